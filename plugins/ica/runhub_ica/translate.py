"""RunSpec -> ICA request bodies: pure functions, no I/O.

Translation happens in two steps so that ``validate`` needs no network and the
launch exchange does only the lookups it must:

1. :func:`plan` checks everything that can be checked offline and returns a
   :class:`Plan` (what must be looked up: pipeline code, storage name, data paths);
2. :func:`body` turns a plan plus the looked-up ids (:class:`Resolved`) into the
   request body of the chosen launch kind, and :func:`endpoint` names its operation:
   a pipeline whose ``inputFormType`` is JSON is started through
   ``analysis:nextflowJson`` / ``analysis:cwlJson`` with ``inputFormValues`` (spec:
   "Create and start an analysis for a JSON based Nextflow/CWL pipeline"), one with
   an XML form through the structured endpoints.

Mount paths end with a file name (spec, ``AnalysisInputDataMount.mountPath``: "The
path should end with the file name"): a path ending in ``/`` gets the data's name.

Both are plain dict/tuple code on purpose: translation runs for every spec of a
samplesheet (target: well over 20,000 specs per second).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from runhub.errors import SpecError, Unsupported
from runhub.spec import RunSpec
from runhub_ica.names import (
    BATCH_TAG_PREFIX,
    KEY_TAG_PREFIX,
    NAME_RULE,
    batch_tag,
    check_name,
    default_name,
    is_data_id,
    is_uuid,
    key_tag,
    suggest_name,
)

V3 = "application/vnd.illumina.v3+json"
V4 = "application/vnd.illumina.v4+json"

#: Launch kind -> endpoint suffix under ``/api/projects/{projectId}/``.
KINDS: dict[str, str] = {
    "nextflow": "analysis:nextflow",
    "nextflow-custom": "analysis:nextflowWithCustomInput",
    "cwl": "analysis:cwlWithStructuredInput",
    "cwl-json": "analysis:cwlWithJsonInput",
}
#: Kinds whose inputs are a free-form document rather than parameterCode entries.
CUSTOM_KINDS = frozenset({"nextflow-custom", "cwl-json"})
#: Structured kind -> the operation for a pipeline with a JSON input form.
JSON_FORM_ENDPOINTS = {"nextflow": "analysis:nextflowJson", "cwl": "analysis:cwlJson"}
OPTIONS = (
    "project",
    "kind",
    "storage",
    "activation_code",
    "storage_credentials",
    "output_parent_folder",
)

_ON_EXIST = {"overwrite": "OVERWRITE", "rename": "RENAME", "skip": "SKIP"}

SourceKind = Literal["id", "path", "s3"]


def param_text(value: Any) -> str:
    """ICA parameter values are strings; booleans are ``true``/``false``."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class Mount:
    """One data mount, classified offline."""

    kind: SourceKind
    #: data id, absolute project path, or s3 URL
    source: str
    #: for ``ica://<project>/path``: the project id or name (None: the run's project)
    project: str | None
    path: str | None
    input: str | None


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything :func:`plan` learned from a spec without I/O."""

    kind: str
    endpoint: str
    project: str | None
    name: str | None
    pipeline: str
    pipeline_is_id: bool
    storage: str | None
    activation: str | None
    credentials: str | None
    output_parent: str | None
    mounts: tuple[Mount, ...]
    parameters: dict[str, Any]
    tags: tuple[str, ...]
    output_path: str | None
    on_exist: str

    @property
    def needs_input_codes(self) -> bool:
        """True if a mount's parameterCode must be learned from the pipeline."""
        return self.kind not in CUSTOM_KINDS and any(m.input is None for m in self.mounts)

    @property
    def data_paths(self) -> list[Mount]:
        """Mounts given as project paths (to resolve to data ids)."""
        return [m for m in self.mounts if m.kind == "path"]


@dataclass(frozen=True, slots=True)
class Resolved:
    """The ids the launch exchange looked up for a plan."""

    project: str
    pipeline_id: str
    storage_id: str | None = None
    activation_id: str | None = None
    #: per mount (same order as Plan.mounts): the data id (None for s3)
    data_ids: tuple[str | None, ...] = ()
    #: per mount: the parameterCode (defaults to the mount's own ``input``)
    input_codes: tuple[str | None, ...] = ()
    #: per mount: the data's name (None: not looked up; the source's last part is used)
    data_names: tuple[str | None, ...] = ()
    #: the pipeline's ``inputFormType`` (XML or JSON)
    form: str = "XML"


def _opt_str(options: dict[str, Any], key: str) -> str | None:
    value = options.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SpecError("expected a non-empty string", field=f"options.ica.{key}")
    return value


def _check_options(options: dict[str, Any]) -> None:
    for key in options:
        if key not in OPTIONS:
            raise SpecError(
                "unknown ICA option",
                field=f"options.ica.{key}",
                hint="known options: " + ", ".join(OPTIONS),
            )


def _mount(index: int, source: str, path: str | None, input_: str | None) -> Mount:
    field = f"mounts.{index}.source"
    if is_data_id(source):
        return Mount("id", source, None, path, input_)
    if source.startswith("/"):
        return Mount("path", source, None, path, input_)
    for scheme in ("ica://", "icav2://"):
        if source.startswith(scheme):
            project, _, rest = source[len(scheme) :].partition("/")
            if not project or not rest:
                raise SpecError(
                    f"{source!r} needs a project and a path",
                    field=field,
                    hint="write ica://<project id or name>/folder/file",
                )
            return Mount("path", "/" + rest, project, path, input_)
    if source.startswith("s3://"):
        return Mount("s3", source, None, path, input_)
    raise SpecError(
        f"{source!r} is not an ICA data reference",
        field=field,
        hint="use a data id (fil.… / fol.…), a project path (/folder/file), "
        "ica://<project>/path, or an s3:// URL",
    )


def plan(spec: RunSpec) -> Plan:
    """Check ``spec`` for ICA without I/O; SpecError/Unsupported name what is wrong."""
    if spec.version is not None:
        raise Unsupported(
            "ICA does not pin pipeline versions by number (field 'version')",
            hint="give the id of the pipeline version you want as 'pipeline'",
        )
    if spec.processes:
        raise Unsupported(
            "ICA pipelines take no per-process parameters (field 'processes')",
            hint="pass them as named 'parameters' the pipeline declares",
        )
    params = spec.parameters
    if isinstance(params, list):
        raise SpecError(
            "ICA takes named parameters only, got an ordered list",
            field="parameters",
            hint="write parameters as a mapping of parameter code to value, e.g. {threads: 8}",
        )
    options = spec.options.get("ica") or {}
    if options:
        _check_options(options)
    kind = options.get("kind", "nextflow")
    if kind not in KINDS:
        raise SpecError(
            f"unknown ICA launch kind {kind!r}",
            field="options.ica.kind",
            hint="one of: " + ", ".join(KINDS),
        )
    activation = _opt_str(options, "activation_code")
    if activation is not None:
        if kind != "nextflow":
            raise Unsupported(
                f"ICA takes an activation code only for kind 'nextflow', not {kind!r}",
                hint="remove options.ica.activation_code (ICA picks the best match)",
            )
        if activation != "auto" and not is_uuid(activation):
            raise SpecError(
                f"{activation!r} is neither 'auto' nor an activation code id (UUID)",
                field="options.ica.activation_code",
            )
    credentials = _opt_str(options, "storage_credentials")
    if credentials is not None and not is_uuid(credentials):
        raise SpecError(
            "expected the id (UUID) of ICA storage credentials",
            field="options.ica.storage_credentials",
        )
    name = spec.name
    if name is not None:
        check_name(name)
    mounts = tuple(_mount(i, m.source, m.path, m.input) for i, m in enumerate(spec.mounts))
    for index, mount in enumerate(mounts):
        if mount.kind == "s3" and credentials is None:
            raise SpecError(
                "an s3:// source needs the storage credentials ICA reads it with",
                field=f"mounts.{index}.source",
                hint="set options.ica.storage_credentials to their id (UUID)",
            )
        if mount.kind == "s3" and kind in CUSTOM_KINDS and not mount.path:
            raise SpecError(
                f"with kind {kind!r} an s3:// source needs the path it is mounted at",
                field=f"mounts.{index}.path",
                hint="give the path ending with the file name, e.g. path: inputs/reads.fq.gz",
            )
    outputs = spec.outputs
    return Plan(
        kind=kind,
        endpoint=KINDS[kind],
        project=_opt_str(options, "project"),
        name=name,
        pipeline=spec.pipeline,
        pipeline_is_id=is_uuid(spec.pipeline),
        storage=_opt_str(options, "storage"),
        activation=activation,
        credentials=credentials,
        output_parent=_opt_str(options, "output_parent_folder"),
        mounts=mounts,
        parameters=params or {},
        tags=tuple(f"{k}={v}" for k, v in spec.tags.items()),
        output_path=outputs.path if outputs else None,
        on_exist=_ON_EXIST[outputs.on_exist] if outputs else "RENAME",
    )


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


__all__ = [
    "BATCH_TAG_PREFIX",
    "CUSTOM_KINDS",
    "JSON_FORM_ENDPOINTS",
    "KEY_TAG_PREFIX",
    "KINDS",
    "NAME_RULE",
    "V3",
    "V4",
    "Mount",
    "Plan",
    "Resolved",
    "batch_tag",
    "body",
    "check_form",
    "check_name",
    "default_name",
    "endpoint",
    "is_data_id",
    "is_uuid",
    "key_tag",
    "needs_name",
    "plan",
    "suggest_name",
    "translate",
    "uses_form",
]


def translate(
    spec: RunSpec, resolved: Resolved, *, key: str, batch: str | None = None
) -> tuple[str, dict[str, Any]]:
    """``(endpoint suffix, body)`` for a spec whose lookups are already done."""
    p = plan(spec)
    return endpoint(p, resolved), body(p, resolved, key=key, batch=batch)
