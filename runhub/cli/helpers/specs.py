"""Reading the SPEC argument, ``--set`` overrides and the backend to use."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runhub.errors import ConfigError, SpecError

if TYPE_CHECKING:
    from runhub.spec import RunSpec

#: File names looked for when SPEC is a directory, in order.
SPEC_NAMES = ("runspec.yaml", "runspec.yml", "runspec.json")
DEFAULT_BACKEND = "local"


def load_spec(where: str) -> RunSpec:
    """The spec in a file, in a directory's ``runspec.yaml``, or on stdin (``-``)."""
    from runhub.spec import RunSpec

    data, label = load_spec_data(where)
    return RunSpec.from_data(data, source=label)


def load_spec_data(where: str) -> tuple[Any, str]:
    """The raw (unvalidated) data of :func:`load_spec`, and the label errors name."""
    from runhub.spec import load_text, read_spec_data

    if where == "-":
        text = sys.stdin.read()
        return (load_text(text, "<stdin>") if text.strip() else {}), "<stdin>"
    path = Path(where)
    if path.is_dir():
        for name in SPEC_NAMES:
            if (path / name).is_file():
                return read_spec_data(path / name), str(path / name)
        raise SpecError(
            f"no {' or '.join(SPEC_NAMES)} in this directory", file=where, hint="name a spec file"
        )
    return read_spec_data(path), str(path)


def build_spec(where: str, overrides: Mapping[str, Any], params_file: str | None = None) -> RunSpec:
    """SPEC, with ``--params-file`` and ``--set`` applied before it is checked, so
    flags alone can supply what the file lacks (``runhub launch - --set pipeline=x``)."""
    from runhub.cli.helpers.paramsfile import merge_params, read_params
    from runhub.spec import RunSpec, set_dotted

    data, label = load_spec_data(where)
    if not isinstance(data, Mapping):
        return RunSpec.from_data(data, source=label)  # the model's own error
    data = dict(data)
    if params_file is not None:
        data = merge_params(data, read_params(params_file))
    if not overrides:
        return RunSpec.from_data(data, source=label)
    for dotted, value in overrides.items():
        try:
            set_dotted(data, dotted, value)
        except SpecError as err:
            raise err.in_file("--set") from None
    try:
        return RunSpec.from_data(data, source=label)
    except SpecError as err:
        # A field that --set touched is the flag's problem; anything else the file's.
        touched = err.field is not None and any(
            err.field == key or err.field.startswith(key + ".") or key.startswith(err.field)
            for key in overrides
        )
        raise err.in_file("--set") if touched else err from None


def parse_overrides(items: Sequence[str], name: str | None = None) -> dict[str, Any]:
    """``--set KEY=VALUE`` items as ``{dotted.key: value}``.

    Values are YAML scalars or flow collections (``8`` is an int, ``true`` a bool,
    ``[a, b]`` a list); an empty value is the empty string; dates stay text.
    ``--name`` is ``--set name=...`` taken literally.
    """
    overrides: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SpecError(
                f"--set {item!r}: expected KEY=VALUE", hint="e.g. --set parameters.threads=8"
            )
        overrides[key] = parse_value(raw, key)
    if name is not None:
        overrides["name"] = name
    return overrides


def parse_value(raw: str, key: str) -> Any:
    """One ``--set`` value, read as YAML (safely)."""
    if not raw.strip():
        return ""
    import yaml

    from runhub.spec import check_expansion

    try:
        value = yaml.safe_load(raw)
        check_expansion(value, f"--set {key}")
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "syntax error"
        raise SpecError(
            f"--set {key}: value {raw!r} is not valid YAML ({problem})",
            hint="quote text that starts with [ { or :, e.g. --set 'x=\"[a\"'",
        ) from None
    if isinstance(value, date):  # YAML reads 2024-01-02 as a date; a spec wants text
        return raw.strip()
    return value


def apply_overrides(spec: RunSpec, overrides: Mapping[str, Any]) -> RunSpec:
    """The spec with overrides applied and validated again; errors name ``--set``."""
    if not overrides:
        return spec
    try:
        return spec.with_overrides(overrides, source="--set")
    except SpecError as err:
        raise err if err.file else err.in_file("--set") from None


def resolve_backend(flag: str | None, spec: RunSpec, profile: str | None) -> str:
    """``--backend`` > the spec's ``backend`` > the profile's ``backend`` > ``local``."""
    if flag:
        return flag
    if spec.backend:
        return spec.backend
    from runhub.config import load_profile

    default = load_profile(profile).get("backend")
    if default is None:
        return DEFAULT_BACKEND
    if not isinstance(default, str) or not default:
        raise ConfigError('the profile\'s backend must be a backend name, e.g. backend = "ica"')
    return default
