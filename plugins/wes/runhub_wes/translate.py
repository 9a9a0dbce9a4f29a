"""RunSpec -> the ``POST /runs`` form of GA4GH WES 1.1 (schema ``RunRequest``).

Every form field is text (spec: RunWorkflow ``requestBody``, ``multipart/form-data``):
``workflow_params``, ``tags`` and ``workflow_engine_parameters`` are JSON-encoded,
and local files travel as ``workflow_attachment`` parts with a file name.

What maps where:

- ``pipeline``: a URL is the ``workflow_url``; a local file is attached and named
  by its file name (see :mod:`runhub_wes.workflow`);
- named ``parameters`` are ``workflow_params`` as given (JSON types kept);
- each mount feeds the workflow input named by its ``input``: a URL or a server path
  as is, a local file attached under ``path`` (or its own name) and referred to by
  that relative name (spec: "Input files should either be absolute URLs, or relative
  URLs corresponding to files uploaded using workflow_attachment"). For CWL the
  value is a ``File`` object (a ``Directory`` for a URL ending in ``/``); several
  mounts feeding one input make a list;
- ``tags`` are tags; runhub adds ``runhub_key`` (the launch key, for recovery),
  ``runhub_batch`` and ``runhub_name`` (WES has no run names);
- ``options.wes`` gives ``workflow_type``, ``workflow_type_version``,
  ``workflow_engine``, ``workflow_engine_version``, ``workflow_engine_parameters``
  and extra ``attachments`` (imported tools, say).

WES has no ordered parameters, per-process parameters, pipeline versions or output
locations: each is a SpecError naming the field, before any request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from runhub.backend import FormFile
from runhub.errors import SpecError
from runhub.spec import DataMount, RunSpec
from runhub_wes.workflow import (
    Attachment,
    attachment,
    check_size,
    is_local,
    is_url,
    server_url,
    type_of,
    version_of,
)

OPTIONS = "options.wes"
#: Tags runhub writes itself; a spec may not set them.
RESERVED_TAG_PREFIX = "runhub_"
KEY_TAG, BATCH_TAG, NAME_TAG = "runhub_key", "runhub_batch", "runhub_name"


class WesOptions(BaseModel):
    """``options.wes`` of a RunSpec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    workflow_type: str | None = None
    workflow_type_version: str | None = None
    workflow_engine: str | None = None
    workflow_engine_version: str | None = None
    workflow_engine_parameters: dict[str, str | int | float | bool] | None = None
    #: More local files to attach (paths as given; sent under their file names).
    attachments: list[str] = []


@dataclass(frozen=True)
class Submission:
    """One translated run request; ``workflow_type_version`` may still be None (the
    backend then takes the one version the server supports for the type)."""

    workflow_url: str
    workflow_type: str
    workflow_type_version: str | None
    workflow_params: dict[str, Any]
    tags: dict[str, str]
    engine: str | None = None
    engine_version: str | None = None
    engine_parameters: dict[str, str] | None = None
    attachments: list[Attachment] = field(default_factory=list)

    def form(self, version: str, tags: dict[str, str]) -> list[tuple[str, str]]:
        """The text fields of the form, with the final version and tags."""
        fields = [
            ("workflow_url", self.workflow_url),
            ("workflow_type", self.workflow_type),
            ("workflow_type_version", version),
            ("workflow_params", json.dumps(self.workflow_params)),
            ("tags", json.dumps(tags)),
        ]
        if self.engine:
            fields.append(("workflow_engine", self.engine))
        if self.engine_version:
            fields.append(("workflow_engine_version", self.engine_version))
        if self.engine_parameters:
            fields.append(("workflow_engine_parameters", json.dumps(self.engine_parameters)))
        return fields

    def files(self) -> list[FormFile]:
        """The ``workflow_attachment`` parts (files read now)."""
        return [FormFile("workflow_attachment", a.name, a.read()) for a in self.attachments]


def options_of(spec: RunSpec) -> WesOptions:
    """``options.wes`` checked; SpecError naming the bad option."""
    try:
        return WesOptions.model_validate(spec.backend_options("wes"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        problem = "unknown option" if first["type"] == "extra_forbidden" else first["msg"]
        hint = "known options: " + ", ".join(WesOptions.model_fields)
        raise SpecError(problem, field=f"{OPTIONS}.{where}", hint=hint) from None


def _refuse_what_wes_cannot_express(spec: RunSpec) -> None:
    if isinstance(spec.parameters, list):
        raise SpecError(
            "the wes backend takes named parameters only (WES workflow_params is an object)",
            field="parameters",
            hint="write parameters as a mapping of workflow input names, e.g. {message: hi}",
        )
    if spec.version is not None:
        raise SpecError(
            "WES has no pipeline versions",
            field="version",
            hint=f"pin the workflow by its URL; the language version is "
            f"{OPTIONS}.workflow_type_version",
        )
    if spec.outputs is not None:
        raise SpecError(
            "WES servers choose where outputs go",
            field="outputs",
            hint="download them afterwards: runhub outputs REF --download DIR",
        )
    for tag in spec.tags:
        if tag.startswith(RESERVED_TAG_PREFIX):
            raise SpecError(
                f"tags starting with {RESERVED_TAG_PREFIX!r} are runhub's own", field=f"tags.{tag}"
            )


def _workflow(spec: RunSpec, options: WesOptions) -> tuple[str, str, str | None, list[Attachment]]:
    """(workflow_url, type, version or None, attachments) for the spec's pipeline."""
    pipeline = spec.pipeline
    attached: list[Attachment] = []
    if is_local(pipeline):
        main = attachment(pipeline, None, field="pipeline")
        attached.append(main)
        url = main.name
    else:
        url = server_url(pipeline)
    kind = options.workflow_type or type_of(pipeline)
    if kind is None:
        raise SpecError(
            f"cannot tell the workflow language of {pipeline!r}",
            field=f"{OPTIONS}.workflow_type",
            hint="set it, e.g. CWL or WDL (a .cwl/.wdl file name is recognised)",
        )
    version = options.workflow_type_version
    if version is None and attached:
        version = version_of(kind.upper(), attached[0].path.read_text(errors="replace"))
    for index, extra in enumerate(options.attachments):
        attached.append(attachment(extra, None, field=f"{OPTIONS}.attachments.{index}"))
    return url, kind, version, attached


def _mount_value(mount: DataMount, kind: str, index: int, attached: list[Attachment]) -> Any:
    """What the workflow input fed by ``mount`` receives."""
    if is_local(mount.source):
        found = attachment(mount.source, mount.path, field=f"mounts.{index}.source")
        attached.append(found)
        location, directory = found.name, False
    else:
        location, directory = server_url(mount.source), mount.source.endswith("/")
    if kind.upper() == "CWL":
        return {"class": "Directory" if directory else "File", "location": location}
    return location


def _params(spec: RunSpec, kind: str, attached: list[Attachment]) -> dict[str, Any]:
    params: dict[str, Any] = dict(spec.parameters) if isinstance(spec.parameters, dict) else {}
    fed: dict[str, list[Any]] = {}
    for index, mount in enumerate(spec.mounts):
        if not mount.input:
            raise SpecError(
                "a WES mount needs input: the workflow input it feeds",
                field=f"mounts.{index}.input",
                hint="e.g. {source: reads.fq.gz, input: reads}",
            )
        if mount.input in params:
            raise SpecError(
                f"workflow input {mount.input!r} is fed by both a mount and a parameter",
                field=f"mounts.{index}.input",
            )
        fed.setdefault(mount.input, []).append(_mount_value(mount, kind, index, attached))
    names = [a.name for a in attached]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate:
        raise SpecError(
            f"two attached files would both be called {duplicate!r}",
            field="mounts",
            hint="give one of the mounts a path: the name the run sees it under",
        )
    for name, values in fed.items():
        params[name] = values[0] if len(values) == 1 else values
    return params


def translate(spec: RunSpec, *, default_engine: str | None = None) -> Submission:
    """The run request for ``spec``; SpecError naming the field if WES cannot take it.

    Reads local files (the workflow, to attach it and detect its language version).
    """
    _refuse_what_wes_cannot_express(spec)
    options = options_of(spec)
    url, kind, version, attached = _workflow(spec, options)
    params = _params(spec, kind, attached)
    check_size(attached)
    engine = options.workflow_engine or default_engine
    if options.workflow_engine_version and not engine:
        raise SpecError(
            "workflow_engine_version needs workflow_engine (WES RunRequest)",
            field=f"{OPTIONS}.workflow_engine",
        )
    engine_parameters = None
    if options.workflow_engine_parameters is not None:
        engine_parameters = {
            k: (str(v).lower() if isinstance(v, bool) else str(v))
            for k, v in options.workflow_engine_parameters.items()
        }
    tags = dict(spec.tags)
    if spec.name:
        tags[NAME_TAG] = spec.name
    return Submission(
        workflow_url=url,
        workflow_type=kind,
        workflow_type_version=version,
        workflow_params=params,
        tags=tags,
        engine=engine,
        engine_version=options.workflow_engine_version,
        engine_parameters=engine_parameters,
        attachments=attached,
    )


def launch_tags(submission: Submission, key: str, batch: str | None) -> dict[str, str]:
    """The tags sent: the spec's, plus the launch key (and batch) runhub recovers by."""
    tags = {**submission.tags, KEY_TAG: key}
    if batch:
        tags[BATCH_TAG] = batch
    return tags


__all__ = ["OPTIONS", "Submission", "WesOptions", "is_url", "launch_tags", "translate"]
