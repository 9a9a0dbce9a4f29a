"""A :class:`~runhub_ica.plans.Plan` plus the looked-up ids -> the create request.

:func:`body` builds the request body of the launch kind and :func:`endpoint` names
its operation: a pipeline whose ``inputFormType`` is JSON is started through
``analysis:nextflowJson`` / ``analysis:cwlJson`` with ``inputFormValues`` (spec: "Create
and start an analysis for a JSON based Nextflow/CWL pipeline"), one with an XML form
through the structured endpoints; the custom-input kinds bypass the form.

Mount paths end with a file name (spec, ``AnalysisInputDataMount.mountPath``: "The
path should end with the file name"): a path ending in ``/`` gets the data's name.
"""

from __future__ import annotations

import json
from typing import Any

from runhub.errors import SpecError
from runhub_ica.names import batch_tag, default_name, key_tag
from runhub_ica.plans import CUSTOM_KINDS, JSON_FORM_ENDPOINTS, Mount, Plan, Resolved, param_text


def needs_name(p: Plan, index: int) -> bool:
    """True if mount ``index``'s path needs the data's name, which only a lookup of a
    data id can give (a project path or URL carries it in its last part)."""
    mount = p.mounts[index]
    if mount.kind != "id":
        return False
    if mount.path:
        return mount.path.endswith("/")
    return p.kind in CUSTOM_KINDS


def _name(mount: Mount, index: int, r: Resolved) -> str:
    name = r.data_names[index] if index < len(r.data_names) else None
    if name:
        return name
    if mount.kind == "id":
        raise SpecError(
            "the mount path needs the data's name, which was not looked up",
            field=f"mounts.{index}.path",
            hint="give the mount path ending with a file name",
        )
    return mount.source.rstrip("/").rsplit("/", 1)[-1]


def _mount_path(mount: Mount, index: int, r: Resolved) -> str:
    """Where the run sees mount ``index``: always ending with a file (or folder) name."""
    if mount.path and not mount.path.endswith("/"):
        return mount.path
    return (mount.path or "") + _name(mount, index, r)


def _external(mount: Mount, index: int, r: Resolved, credentials: str | None) -> dict[str, Any]:
    ext: dict[str, Any] = {"url": mount.source, "type": "s3"}
    if mount.path:
        ext["mountPath"] = _mount_path(mount, index, r)
    if credentials:
        ext["s3Details"] = {"storageCredentialsId": credentials}
    return ext


def _structured(p: Plan, r: Resolved) -> dict[str, Any]:
    inputs: dict[str, dict[str, Any]] = {}
    for index, mount in enumerate(p.mounts):
        code = r.input_codes[index] if r.input_codes else mount.input
        if code is None:  # the exchange fills it in; a direct caller must
            raise SpecError("no pipeline input given", field=f"mounts.{index}.input")
        entry = inputs.get(code)
        if entry is None:
            entry = inputs[code] = {"parameterCode": code}
        if mount.kind == "s3":
            entry.setdefault("externalData", []).append(_external(mount, index, r, p.credentials))
            continue
        data_id = r.data_ids[index] if r.data_ids else mount.source
        if mount.path:
            where = _mount_path(mount, index, r)
            entry.setdefault("mounts", []).append({"dataId": data_id, "mountPath": where})
        else:
            entry.setdefault("dataIds", []).append(data_id)
    analysis_input: dict[str, Any] = {"inputs": list(inputs.values())}
    if p.parameters:
        parameters = []
        for code, value in p.parameters.items():
            if isinstance(value, list):
                parameters.append({"code": code, "multiValue": [param_text(v) for v in value]})
            else:
                parameters.append({"code": code, "value": param_text(value)})
        analysis_input["parameters"] = parameters
    return analysis_input


def _custom(p: Plan, r: Resolved) -> dict[str, Any]:
    document: dict[str, Any] = dict(p.parameters)
    data_ids: list[str] = []
    mounts: list[dict[str, str]] = []
    external: list[dict[str, Any]] = []
    cwl = p.kind == "cwl-json"
    for index, mount in enumerate(p.mounts):
        if mount.kind == "s3":
            external.append(_external(mount, index, r, p.credentials))
            where = _mount_path(mount, index, r)
            folder = mount.source.endswith("/")
        else:
            data_id = (r.data_ids[index] if r.data_ids else None) or mount.source
            where = _mount_path(mount, index, r)
            folder = data_id.startswith("fol.")
            if mount.path or mount.input:
                mounts.append({"dataId": data_id, "mountPath": where})
            else:
                data_ids.append(data_id)
        if mount.input:
            if cwl:
                document[mount.input] = {
                    "class": "Directory" if folder else "File",
                    "location": where,
                }
            else:
                document[mount.input] = where
    analysis_input: dict[str, Any] = {
        ("inputJson" if cwl else "customInput"): json.dumps(document, separators=(",", ":"))
    }
    if data_ids:
        analysis_input["dataIds"] = data_ids
    if mounts:
        analysis_input["mounts"] = mounts
    if external:
        analysis_input["externalData"] = external
    return analysis_input


def _form(p: Plan, r: Resolved) -> dict[str, Any]:
    """``inputFormValues`` (``NextflowJsonAnalysisInput`` / ``CwlJsonAnalysisInput``):
    one field per data input (``dataValues`` / ``externalDataValues``) and per named
    parameter (``values``: strings, a list gives several)."""
    fields: dict[str, dict[str, Any]] = {}
    for index, mount in enumerate(p.mounts):
        code = r.input_codes[index] if r.input_codes else mount.input
        if code is None:
            raise SpecError("no pipeline input given", field=f"mounts.{index}.input")
        field = fields.setdefault(code, {"id": code})
        if mount.kind == "s3":
            external = _external(mount, index, r, p.credentials)
            field.setdefault("externalDataValues", []).append(external)
            continue
        item: dict[str, Any] = {"dataId": r.data_ids[index] if r.data_ids else mount.source}
        if mount.path:
            item["mountPath"] = _mount_path(mount, index, r)
        field.setdefault("dataValues", []).append(item)
    for code, value in p.parameters.items():
        if code in fields:
            raise SpecError(
                f"{code!r} is both a data input and a parameter of the input form",
                field=f"parameters.{code}",
                hint="name each input form field once",
            )
        values = value if isinstance(value, list) else [value]
        fields[code] = {"id": code, "values": [param_text(v) for v in values]}
    return {"fields": list(fields.values())}


def uses_form(p: Plan, r: Resolved) -> bool:
    """True if the launch goes through the pipeline's JSON input form."""
    return r.form == "JSON" and p.kind in JSON_FORM_ENDPOINTS


def endpoint(p: Plan, r: Resolved) -> str:
    """The create operation (suffix under ``/api/projects/{projectId}/``)."""
    return JSON_FORM_ENDPOINTS[p.kind] if uses_form(p, r) else p.endpoint


def check_form(p: Plan, r: Resolved) -> None:
    """SpecError for what a JSON-form create cannot express (before any POST)."""
    if uses_form(p, r) and p.activation is not None:
        raise SpecError(
            f"the pipeline has a JSON input form; {endpoint(p, r)} takes no activation code",
            field="options.ica.activation_code",
            hint="remove it: ICA picks the best matching activation code",
        )


def body(p: Plan, r: Resolved, *, key: str, batch: str | None = None) -> dict[str, Any]:
    """The create request body for a plan and its resolved ids."""
    check_form(p, r)
    technical = ["runhub", key_tag(key)]
    if batch:
        technical.append(batch_tag(batch))
    out: dict[str, Any] = {
        "userReference": p.name or default_name(key),
        "pipelineId": r.pipeline_id,
        "tags": {"technicalTags": technical, "userTags": list(p.tags), "referenceTags": []},
    }
    if uses_form(p, r):
        out["inputFormValues"] = _form(p, r)
    else:
        out["analysisInput"] = _custom(p, r) if p.kind in CUSTOM_KINDS else _structured(p, r)
    if r.storage_id:
        out["analysisStorageId"] = r.storage_id
    if p.output_parent:
        out["outputParentFolderId"] = p.output_parent
    if p.output_path:
        target = "/" + p.output_path.strip("/") + "/" if p.output_path.strip("/") else "/"
        out["analysisOutput"] = [
            {
                "sourcePath": "out/",
                "type": "FOLDER",
                "targetProjectId": r.project,
                "targetPath": target,
                "actionOnExist": p.on_exist,
            }
        ]
    if r.activation_id:
        out["activationCodeDetailId"] = r.activation_id
    return out
