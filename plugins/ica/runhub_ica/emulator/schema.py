"""Check bodies against the official ICA schema, via libica 3.3's generated models.

Why libica rather than openapi-core on the vendored spec: libica is a package
(the ``emulator`` extra of runhub-ica), so the emulator validates the same way on a
user's machine as in CI, where ``../shared/specs`` is absent; and its pydantic models
validate a body in microseconds, where openapi-core needs seconds to load the 700 KB
spec. The tests also check the translated bodies with openapi-core against the
vendored spec when it is present, which catches any drift between the two.

The generated models ignore unknown fields; the real service rejects bodies it cannot
map, so :func:`problems` also reports fields the schema does not define.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from typing import Any

from libica.openapi.v3 import models as m
from pydantic import BaseModel, ValidationError

#: ``userReference`` of every create body (spec pattern, anchored at both ends).
USER_REFERENCE = re.compile(r"[a-zA-Z0-9 _-]*(/[a-zA-Z0-9 _-]+)*")

#: Request body model per operation (the key is the emulator's route name).
REQUESTS: dict[str, type[BaseModel]] = {
    "analysis:nextflow": m.CreateNextflowAnalysis,
    "analysis:nextflowWithCustomInput": m.CreateNextflowWithCustomInputAnalysis,
    "analysis:cwlWithStructuredInput": m.CreateCwlWithStructuredInputAnalysis,
    "analysis:cwlWithJsonInput": m.CreateCwlWithJsonInputAnalysis,
    "analysis:nextflowJson": m.CreateNextflowJsonAnalysis,
    "analysis:cwlJson": m.CreateCwlJsonAnalysis,
    "analysis:search": m.AnalysisQueryParameters,
    "activationCodes:findBestMatchingForNextflow": (
        m.SearchMatchingActivationCodesForNextflowAnalysis
    ),
    "data:createDownloadUrls": m.DataIdOrPathList,
    "analysisCreationBatch": m.CreateAnalysisCreationBatch,
    #: The deprecated analysis:cwl body (the items of a creation batch's cwlItems).
    "analysis:cwl": m.CreateCwlAnalysis,
}

#: Response body model per operation.
RESPONSES: dict[str, type[BaseModel]] = {
    "projects": m.ProjectPagedList,
    "pipelines": m.ProjectPipelineList,
    "inputParameters": m.InputParameterList,
    "analysisStorages": m.AnalysisStorageListV4,
    "activationCodes:findBestMatchingForNextflow": m.ActivationCodeDetail,
    "data": m.ProjectDataPagedList,
    "data-one": m.ProjectData,
    "create": m.AnalysisV4,
    "analysis": m.AnalysisV4,
    "analysis-v3": m.AnalysisV3,
    "pipeline": m.ProjectPipelineV4,
    "pipeline-v3": m.ProjectPipeline,
    "token": m.Token,
    "analysis:search": m.AnalysisPagedListV4,
    "outputs": m.AnalysisOutputList,
    "data:createDownloadUrls": m.DataUrlWithPathList,
    "problem": m.Problem,
    "analysisCreationBatch": m.AnalysisCreationBatch,
    "analysisCreationBatchItems": m.AnalysisCreationBatchItemPagedListV4,
    "analysisCreationBatchItems-v3": m.AnalysisCreationBatchItemPagedListV3,
    "analysisCreationBatchItem": m.AnalysisCreationBatchItemV4,
    "analysisCreationBatchItem-v3": m.AnalysisCreationBatchItemV3,
}


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``Optional[List[Optional[Model]]]`` and the like."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


@functools.cache
def _wire_fields(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """Wire name -> the model nested in that field (None for plain values)."""
    return {
        (info.alias or name): _model_in(info.annotation)
        for name, info in model.model_fields.items()
    }


def unknown_fields(model: type[BaseModel], data: Any, loc: str = "") -> list[str]:
    """Dotted paths of keys in ``data`` that ``model`` does not define (by wire name)."""
    if not isinstance(data, dict):
        return []
    if "actual_instance" in model.model_fields:  # libica's oneOf wrapper (CwlAnalysisInput)
        readings = [
            unknown_fields(inner, data, loc)
            for name, info in model.model_fields.items()
            if name.startswith("oneof_schema_") and (inner := _model_in(info.annotation))
        ]
        return min(readings, key=len) if readings else []
    fields = _wire_fields(model)
    found = []
    for key, value in data.items():
        if key not in fields:
            found.append(f"{loc}{key}")
            continue
        inner = fields[key]
        if inner is None:
            continue
        if isinstance(value, list):
            for index, item in enumerate(value):
                found.extend(unknown_fields(inner, item, f"{loc}{key}.{index}."))
        else:
            found.extend(unknown_fields(inner, value, f"{loc}{key}."))
    return found


def _parameters(data: Any) -> list[dict[str, Any]]:
    analysis_input = data.get("analysisInput") if isinstance(data, dict) else None
    if not isinstance(analysis_input, dict):
        return []
    params = analysis_input.get("parameters") or []
    return [p for p in params if isinstance(p, dict)]


def problems(model: type[BaseModel], data: Any) -> dict[str, str]:
    """Field path -> problem, for every way ``data`` breaks the schema (empty if none)."""
    found: dict[str, str] = {}
    if not isinstance(data, dict):
        return {"body": "expected a JSON object"}
    try:
        model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "body"
            found.setdefault(loc, err["msg"])
    for path in unknown_fields(model, data):
        found.setdefault(path, "unknown field")
    # JSON Schema patterns are ECMA-262: "$" ends the text. libica checks with Python's
    # re.match, where "$" also matches before a trailing newline.
    name = data.get("userReference")
    if isinstance(name, str) and not USER_REFERENCE.fullmatch(name):
        found.setdefault("userReference", f"does not match {USER_REFERENCE.pattern}")
    # Schema text: "only one of attributes 'value' or 'multiValue' must be provided".
    for index, param in enumerate(_parameters(data)):
        if ("value" in param) == ("multiValue" in param):
            where = f"analysisInput.parameters.{index}"
            found.setdefault(where, "exactly one of 'value' or 'multiValue' must be provided")
        if not param.get("code"):
            found.setdefault(f"analysisInput.parameters.{index}.code", "a parameter needs a code")
    return found


def response_problems(name: str, data: Any) -> dict[str, str]:
    """How a response body breaks its schema (the emulator checks its own answers)."""
    model = RESPONSES[name]
    if not isinstance(data, dict):
        return {"body": "expected a JSON object"}
    try:
        model.model_validate(data)
    except ValidationError as exc:
        return {".".join(str(p) for p in e["loc"]) or "body": e["msg"] for e in exc.errors()}
    return {}
