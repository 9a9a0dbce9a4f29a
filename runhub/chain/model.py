"""The chain file: named steps, each a RunSpec, ordered by ``after`` and fed by
earlier steps' outputs.

```yaml
name: align-and-call            # optional, shown in views
backend: ica                    # optional: the backend of steps whose spec names none
steps:
  align:
    spec: align.yaml            # a spec file, relative to the chain file ...
  call:
    after: [align]
    when: succeeded             # succeeded (default) | failed | always
    spec: {pipeline: …, …}      # ... or a RunSpec inline
    inputs:
      - from: {step: align, outputs: "*.bam"}
        mount: {input: bams}    # each matching output becomes a mount ...
      - from: {step: align, outputs: "*.txt"}
        parameter: report       # ... or the value of a parameter
```

This module checks the shape only and reports every problem with its path
(``steps.call.after[0]: …``); :mod:`runhub.chain.validate` checks what the steps
say about each other and about their backends.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

#: Step names: they are part of ledger row keys (``<row>/<step>``) and of paths.
STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

When = Literal["succeeded", "failed", "always"]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FromOutputs(_Shape):
    """Which outputs of which earlier step: ``outputs`` is a glob, matched against
    each output file's name (or its whole path when the glob holds a ``/``)."""

    step: str = Field(min_length=1)
    outputs: str = Field(min_length=1)


class MountInto(_Shape):
    """Where matched outputs go as mounts: the pipeline input they feed (ICA
    ``parameterCode``) and where the run sees them."""

    input: str | None = None
    path: str | None = None


class StepInput(_Shape):
    """Outputs of an earlier step fed into this step, as mounts or a parameter."""

    source: FromOutputs = Field(alias="from")
    mount: MountInto | None = None
    parameter: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_target(self) -> StepInput:
        if (self.mount is None) == (self.parameter is None):
            raise ValueError("give exactly one of mount or parameter")
        return self


class StepShape(_Shape):
    """One step: a RunSpec (inline, or a spec file) and when it runs."""

    spec: str | dict[str, Any]
    after: list[str] = Field(default_factory=list)
    when: When = "succeeded"
    inputs: list[StepInput] = Field(default_factory=list)


class ChainShape(_Shape):
    """The whole chain file."""

    name: str | None = None
    backend: str | None = None
    steps: dict[str, StepShape] = Field(min_length=1)


def shape_problems(data: Any) -> tuple[ChainShape | None, list[str]]:
    """The parsed chain, or every shape problem as ``path: problem``."""
    if not isinstance(data, dict):
        return None, [f"a chain file must be a mapping with 'steps', got {type(data).__name__}"]
    try:
        return ChainShape.model_validate(data), []
    except ValidationError as exc:
        return None, [_line(err) for err in exc.errors()]


def _line(err: Any) -> str:
    path = where(err["loc"])
    if err["type"] == "extra_forbidden":
        return f"{path}: unknown field"
    if err["type"] == "missing":
        return f"{path}: required field is missing"
    message = str(err["msg"]).removeprefix("Value error, ")
    return f"{path}: {message[0].lower()}{message[1:]}" if path else message


def where(loc: tuple[Any, ...] | list[Any]) -> str:
    """A location as ``steps.call.after[0]`` (union branch tags dropped)."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("str", "dict[str,any]", "function-after[_one_target(), StepInput]"):
            continue
        else:
            text += f".{part}" if text else str(part)
    return text


__all__ = [
    "STEP_NAME",
    "ChainShape",
    "FromOutputs",
    "MountInto",
    "StepInput",
    "StepShape",
    "When",
    "shape_problems",
    "where",
]
