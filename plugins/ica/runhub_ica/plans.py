"""RunSpec -> a :class:`Plan`: every check that needs no I/O (``validate``), and what a
launch must look up (pipeline code, storage name, data paths, project names).

Plain dict/tuple code on purpose: it runs for every spec of a samplesheet (target:
well over 20,000 specs per second).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Literal

from runhub.errors import SpecError, Unsupported
from runhub.spec import RunSpec
from runhub.transfer import is_local
from runhub_ica.names import (
    check_name,
    is_data_id,
    is_uuid,
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

#: ``local``: a path on this machine (runhub.transfer's rule), uploaded before launch.
SourceKind = Literal["id", "path", "s3", "local"]


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
    if is_local(source):
        return Mount("local", source, None, path, input_)
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
    hint = (
        "use a data id (fil.… / fol.…), a project path (/folder/file), "
        "ica://<project>/path, an s3:// URL, or a local path (./file)"
    )
    if os.path.exists(source):  # a file here: say how to name it, guess nothing
        hint = f"did you mean ./{source} (the local file)?"
    raise SpecError(f"{source!r} is not an ICA data reference", field=field, hint=hint)


def unstaged(p: Plan) -> None:
    """Unsupported if a local mount reached the launch without being uploaded."""
    for index, mount in enumerate(p.mounts):
        if mount.kind == "local":
            raise Unsupported(
                f"mounts.{index}.source: {mount.source!r} is a local path, not uploaded yet",
                hint="launch through runhub's Client or CLI, which upload local mounts first",
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
