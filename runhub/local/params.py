"""How the local backend passes a spec's parameters and options to ``run``.

Ordered parameters become positional arguments, in order. Named parameters become
``--name value`` pairs in the spec's order; a list value repeats the flag once per
item (``--sample a --sample b``). Booleans are ``true``/``false``, numbers their
usual text. Nothing goes through a shell.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runhub.errors import SpecError
from runhub.spec import Parameters, Scalar

#: Keys the local backend accepts under ``options.local``.
OPTIONS = ("env",)


def text(value: Scalar) -> str:
    """One parameter value as an argument string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def arguments(parameters: Parameters | None) -> list[str]:
    """The argument list for ``run`` (without ``run`` itself)."""
    if parameters is None:
        return []
    if isinstance(parameters, list):
        return [text(value) for value in parameters]
    args: list[str] = []
    for name, value in parameters.items():
        for item in value if isinstance(value, list) else [value]:
            args += [f"--{name}", text(item)]
    return args


def check_options(options: Mapping[str, Any]) -> None:
    """Validate ``options.local``: only ``env``, a mapping of names to scalars."""
    for key, value in options.items():
        if key not in OPTIONS:
            raise SpecError(
                "unknown option for the local backend",
                field=f"options.local.{key}",
                hint="known options: " + ", ".join(OPTIONS),
            )
        if key == "env":
            if not isinstance(value, Mapping):
                raise SpecError(
                    "expected a mapping of variable names to values", field="options.local.env"
                )
            for name, item in value.items():
                if not isinstance(item, str | int | float | bool) or not str(name):
                    raise SpecError(
                        "expected a string, number or boolean", field=f"options.local.env.{name}"
                    )
