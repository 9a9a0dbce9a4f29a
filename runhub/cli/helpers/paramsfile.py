"""``--params-file FILE``: parameters from a YAML or JSON file (like ``tw launch --params-file``).

The file holds a mapping of parameter names to values (or, for backends that take
ordered parameters, a list). It is merged into the spec's ``parameters``: named
values from the file replace the spec's values of the same name and keep the
others; a list replaces the spec's parameters. ``--set parameters.X=...`` still
wins over both.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runhub.errors import SpecError


def read_params(path: str) -> dict[str, Any] | list[Any]:
    """The parameters in ``path`` (SpecError naming the file when it is not usable)."""
    from runhub.spec import read_spec_data

    data = read_spec_data(Path(path))
    if isinstance(data, Mapping):
        return dict(data)
    if isinstance(data, list):
        return data
    raise SpecError(
        "a params file holds a mapping of parameter names to values (or a list)",
        file=path,
        hint="e.g. threads: 8",
    )


def merge_params(data: dict[str, Any], params: dict[str, Any] | list[Any]) -> dict[str, Any]:
    """``data`` (raw spec data) with ``params`` merged into its ``parameters``."""
    merged = dict(data)
    current = merged.get("parameters")
    if isinstance(params, dict) and isinstance(current, Mapping):
        merged["parameters"] = {**current, **params}
    else:
        merged["parameters"] = params
    return merged


__all__ = ["merge_params", "read_params"]
