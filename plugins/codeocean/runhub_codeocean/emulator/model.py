"""The run request model the emulator enforces, mirroring the official SDK.

``RUN_PARAMS`` restates ``codeocean.models.computation.RunParams`` (SDK 0.17.0) so the
emulator runs without the SDK installed; a test checks the two agree field by field.
A schema is ``str``/``int`` (a JSON type), ``[schema]`` (a list of it) or an
:class:`Obj` (known fields, required ones, nulls allowed for optional ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Obj:
    """A JSON object schema: ``required`` and ``optional`` fields by name."""

    name: str
    required: dict[str, Any] = field(default_factory=dict)
    optional: dict[str, Any] = field(default_factory=dict)


NAMED_RUN_PARAM = Obj("NamedRunParam", required={"param_name": str, "value": str})
DATA_ASSETS_RUN_PARAM = Obj("DataAssetsRunParam", required={"id": str}, optional={"mount": str})
PIPELINE_PROCESS_PARAMS = Obj(
    "PipelineProcessParams",
    required={"name": str},
    optional={"parameters": [str], "named_parameters": [NAMED_RUN_PARAM]},
)
RUN_PARAMS = Obj(
    "RunParams",
    optional={
        "capsule_id": str,
        "pipeline_id": str,
        "version": int,
        "resume_run_id": str,
        "nextflow_profile": str,
        "data_assets": [DATA_ASSETS_RUN_PARAM],
        "parameters": [str],
        "named_parameters": [NAMED_RUN_PARAM],
        "processes": [PIPELINE_PROCESS_PARAMS],
    },
)
LIST_FOLDER_PARAMS = Obj("ListFolderParams", required={"path": str})

_JSON_NAMES = {str: "a string", int: "an integer"}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def check(value: Any, schema: Any, where: str) -> str | None:
    """The first problem with ``value`` against ``schema``, or None."""
    if isinstance(schema, Obj):
        if not isinstance(value, dict):
            return f"{where}: expected an object ({schema.name}), got {_kind(value)}"
        for key in value:
            if key not in schema.required and key not in schema.optional:
                return f"{where}.{key}: unknown field of {schema.name}"
        for key, sub in schema.required.items():
            if value.get(key) is None:
                return f"{where}.{key}: required field is missing"
            problem = check(value[key], sub, f"{where}.{key}")
            if problem:
                return problem
        for key, sub in schema.optional.items():
            if value.get(key) is not None:
                problem = check(value[key], sub, f"{where}.{key}")
                if problem:
                    return problem
        return None
    if isinstance(schema, list):
        if not isinstance(value, list):
            return f"{where}: expected a list, got {_kind(value)}"
        for index, item in enumerate(value):
            problem = check(item, schema[0], f"{where}[{index}]")
            if problem:
                return problem
        return None
    ok = isinstance(value, schema) and not isinstance(value, bool)
    return None if ok else f"{where}: expected {_JSON_NAMES[schema]}, got {_kind(value)}"
