"""Settings: flags > environment > profile file > defaults (DESIGN.md §9).

The profile file is TOML. Each top-level table is a profile; inside it, one table
per backend holds that backend's settings by field name, and ``backend`` names the
default backend::

    [default]
    backend = "ica"

    [default.ica]
    server_url = "ica.illumina.com"
    project_id = "..."

Each backend's settings are a :class:`BackendSettings` (pydantic-settings) model.
"""

from __future__ import annotations

import contextvars
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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


class _ProfileSource(PydanticBaseSettingsSource):
    """Feeds the current profile's backend table to pydantic-settings, below env."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        values = _profile_values.get() or {}
        return values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        fields = self.settings_cls.model_fields
        values = _profile_values.get() or {}
        return {k: v for k, v in values.items() if k in fields}


class BackendSettings(BaseSettings):
    """Base of every backend's settings model.

    Declare fields with ``validation_alias=AliasChoices("ENV_NAME", "field_name")``
    so both the environment variable and the profile key work. Use ``SecretStr`` for
    credentials: they are masked in reprs and collected by :meth:`secret_values`.
    """

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _ProfileSource(settings_cls))

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


def load_settings(
    model: type[S],
    *,
    profile: Mapping[str, Any] | None = None,
    backend: str = "",
    **flags: Any,
) -> S:
    """Build ``model`` from flags, then the environment, then ``profile``.

    Invalid values become a ConfigError naming the field (never its value).
    """
    token = _profile_values.set(dict(profile or {}))
    try:
        return model(**{k: v for k, v in flags.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "settings"
        where = f"{backend} setting" if backend else "setting"
        # pydantic prefixes a validator's own message with "Value error, ".
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where} {field}: {message}") from None
    finally:
        _profile_values.reset(token)


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
