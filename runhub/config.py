"""Settings: flags > environment > profile file > defaults (DESIGN.md §9).

The profile file is TOML. Each top-level table is a profile; inside it, one table
per backend holds that backend's settings by field name, and ``backend`` names the
default backend::

    [default]
    backend = "ica"

    [default.ica]
    server_url = "ica.illumina.com"
    project_id = "..."

Each backend's settings are a :class:`BackendSettings` model: pydantic, with the
environment and profile layers added here (a few lines, where pydantic-settings
cost every CLI start ~45 ms of imports, asyncio among them).
"""

from __future__ import annotations

import contextvars
import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    SecretStr,
    ValidationError,
    model_validator,
)

from runhub.errors import ConfigError

DEFAULT_PROFILE = "default"

S = TypeVar("S", bound="BackendSettings")

_profile_values: contextvars.ContextVar[Mapping[str, Any] | None] = contextvars.ContextVar(
    "runhub_profile_values", default=None
)


def runhub_home() -> Path:
    """Where runhub keeps run directories and the ledger (``RUNHUB_HOME``)."""
    explicit = os.environ.get("RUNHUB_HOME")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("runhub", appauthor=False))


def config_path() -> Path:
    """The profile file (``RUNHUB_CONFIG``, else the platform's config dir)."""
    explicit = os.environ.get("RUNHUB_CONFIG")
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("runhub", appauthor=False)) / "config.toml"


def profile_name(explicit: str | None = None) -> str:
    """The profile in use: the flag, else ``RUNHUB_PROFILE``, else ``default``."""
    return explicit or os.environ.get("RUNHUB_PROFILE") or DEFAULT_PROFILE


def load_profile(name: str | None = None, path: Path | None = None) -> dict[str, Any]:
    """The tables of one profile. A missing file is an empty profile; a named
    profile that does not exist (other than ``default``) is a ConfigError."""
    name = profile_name(name)
    path = path or config_path()
    if not path.exists():
        if name != DEFAULT_PROFILE:
            raise ConfigError(
                f"profile {name!r} not found: {path} does not exist",
                hint="create it with `runhub config init`",
            )
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    profile = data.get(name)
    if profile is None:
        if name == DEFAULT_PROFILE:
            return {}
        known = ", ".join(sorted(k for k, v in data.items() if isinstance(v, dict))) or "none"
        raise ConfigError(f"profile {name!r} not found in {path} (profiles: {known})")
    if not isinstance(profile, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return profile


class BackendSettings(BaseModel):
    """Base of every backend's settings model.

    Values come from, highest first: keyword arguments (``Client(settings=...)``,
    CLI flags), the environment, the profile's table for the backend, the defaults.
    A field is read from the environment variables named by its
    ``validation_alias`` (a string or ``AliasChoices``; also accepted as keyword
    names), else from ``env_prefix + FIELD_NAME``; names match case-insensitively.
    Declare ``validation_alias=AliasChoices("ENV_NAME", "field_name")`` so both the
    variable and the profile key work, or set ``env_prefix`` so that ``url`` is read
    from ``ECHO_URL``, never from some unrelated ``URL``. Environment values are
    text (pydantic converts numbers and booleans); list, dict and model fields take
    JSON. Use ``SecretStr`` for credentials: they are masked in reprs and collected
    by :meth:`secret_values`.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    #: Prefix of the environment variable of each field without a validation alias.
    env_prefix: ClassVar[str] = ""

    @classmethod
    def env_names(cls, field: str) -> list[str]:
        """The environment variables ``field`` is read from, in order of preference."""
        info = cls.model_fields[field]
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            return [c for c in alias.choices if isinstance(c, str)]
        if isinstance(alias, str):
            return [alias]
        return [f"{cls.env_prefix}{field}".upper()]

    @model_validator(mode="before")
    @classmethod
    def _layered(cls, data: Any) -> Any:
        """Profile table < environment < keyword arguments, keyed by field name."""
        if not isinstance(data, dict):
            return data
        environ = {k.lower(): v for k, v in os.environ.items()}
        profile = _profile_values.get() or {}
        merged: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            given = [n for n in (*cls.env_names(name), name) if n in data]
            if given:
                merged[name] = data[given[0]]
                continue
            found = next(
                (environ[n.lower()] for n in cls.env_names(name) if n.lower() in environ), None
            )
            if found is not None:
                merged[name] = _from_env(found, info.annotation)
            elif name in profile:
                merged[name] = profile[name]
        return merged

    def secret_values(self) -> list[str]:
        """The plain text of every SecretStr field that is set."""
        values = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                text = value.get_secret_value()
                if text:
                    values.append(text)
        return values


def _from_env(text: str, annotation: Any) -> Any:
    """An environment value for a field: JSON for structured fields, else the text."""
    structured = (list, dict, set, tuple)
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    kinds = typing.get_args(annotation) if union else (annotation,)
    for kind in kinds:
        origin = typing.get_origin(kind) or kind
        if (isinstance(origin, type) and issubclass(origin, structured)) or (
            isinstance(kind, type) and issubclass(kind, BaseModel)
        ):
            try:
                return json.loads(text)
            except ValueError:
                return text  # pydantic names the field and the problem
    return text


def load_settings(
    model: type[S],
    *,
    profile: Mapping[str, Any] | None = None,
    backend: str = "",
    **flags: Any,
) -> S:
    """Build ``model`` from flags, then the environment, then ``profile``.

    Invalid values become a ConfigError naming the field, or the environment
    variable it came from (never its value).
    """
    given = {k: v for k, v in flags.items() if v is not None}
    check_names(model, given, backend, "-S setting")
    check_names(model, profile or {}, backend, "profile setting")
    token = _profile_values.set(dict(profile or {}))
    try:
        return model(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        if field in model.model_fields and field not in given:
            field = _env_source(model, field) or field
        where = f"{backend} setting" if backend else "setting"
        # pydantic prefixes a validator's own message with "Value error, ".
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where} {field}: {message}") from None
    finally:
        _profile_values.reset(token)


def check_names(
    model: type[BackendSettings], given: Mapping[str, Any], backend: str, what: str
) -> None:
    """ConfigError for a setting ``model`` does not have, with the nearest names:
    a typo (``-S ica.projectid=x``) must not be dropped without a word."""
    import difflib

    known: dict[str, str] = {}
    for field in model.model_fields:
        known[field.lower()] = field
        for env in model.env_names(field):
            known.setdefault(env.lower(), field)
    for key in given:
        if key.lower() in known:
            continue
        near = difflib.get_close_matches(key.lower(), list(known), n=3, cutoff=0.6)
        names = list(dict.fromkeys(known[n] for n in near))
        hint = "did you mean " + " or ".join(repr(n) for n in names) + "?"
        if not names:
            hint = "known settings: " + ", ".join(model.model_fields)
        where = f"{backend}." if backend else ""
        raise ConfigError(f"unknown {what} {where}{key}", hint=hint)


def _env_source(model: type[BackendSettings], field: str) -> str | None:
    """The environment variable ``field`` was read from, if any (as it is spelt)."""
    wanted = {n.lower() for n in model.env_names(field)}
    return next((k for k in os.environ if k.lower() in wanted), None)


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def is_loopback(host: str) -> bool:
    """True for localhost and the loopback ranges (127.0.0.0/8, ::1)."""
    import ipaddress

    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_base_url(value: str, *, variable: str) -> str:
    """Normalise a platform URL: a bare host gets ``https://``; only http(s) is
    accepted; plain ``http://`` is allowed silently for loopback only (emulators),
    and with a warning elsewhere. TLS verification is never turned off."""
    import logging
    from urllib.parse import urlsplit

    text = value.strip()
    if not text:
        raise ConfigError(f"{variable} is empty", hint="set it to the platform's https URL")
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{variable}={value!r} is not an http(s) URL", hint="e.g. https://host.example.com"
        )
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        logging.getLogger("runhub.config").warning(
            "%s uses plain http to %s: credentials would travel unencrypted; use https",
            variable,
            parts.hostname,
        )
    return text.rstrip("/")
