"""The ``ica`` backend: launch and track ICA v2 analyses as sans-IO exchanges.

Lookups (pipeline codes, storage sizes, data paths, pipeline inputs, project names)
are cached per backend instance, so a samplesheet of 1000 runs of one pipeline costs
one lookup of each kind, and polling 1000 runs of one batch costs one search request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, ClassVar

import httpx

from runhub.backend import (
    Backend,
    Capabilities,
    Exchange,
    Output,
    RunRef,
    response_json,
)
from runhub.detail import LogText, RunDetail
from runhub.errors import PlatformError, SpecError
from runhub.gather import gather
from runhub.spec import RunSpec
from runhub.state import RunStatus
from runhub_ica.inspection import Inspector
from runhub_ica.lookups import Lookups
from runhub_ica.preflight import Preflight
from runhub_ica.problems import error_for
from runhub_ica.settings import IcaSettings
from runhub_ica.states import STATES
from runhub_ica.translate import (
    V3,
    V4,
    Resolved,
    batch_tag,
    body,
    key_tag,
    plan,
)
from runhub_ica.wire import get, post

_SIZE_CHUNK = 100


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


class IcaBackend(Backend):
    """Illumina Connected Analytics (v2 REST API)."""

    name: ClassVar[str] = "ica"
    settings_model: ClassVar[type[IcaSettings]] = IcaSettings
    settings: IcaSettings
    capabilities: ClassVar[Capabilities] = Capabilities(
        detail=True,
        logs=("stdout", "stderr"),
        remote_runs=True,
        cancel=True,
        outputs=True,
        download=True,
        ordered_parameters=False,
        named_parameters=True,
        processes=False,
        tags=True,
        version=False,
        outputs_path=True,
        batch_status=True,
        idempotent_launch=True,
    )
    states = STATES

    def __init__(self, settings: IcaSettings) -> None:
        super().__init__(settings)
        self.lookups = Lookups(settings)
        self._preflight = Preflight(settings, self.lookups)
        self._inspector = Inspector(settings, self._to_status)

    # -- offline -----------------------------------------------------------------

    def validate(self, spec: RunSpec) -> None:
        """Every check that needs no I/O (see :func:`runhub_ica.translate.plan`)."""
        plan(spec)

    def error_for(self, response: httpx.Response, context: str) -> PlatformError:
        """ICA problem+json -> PlatformError/AuthError/NotFound with ICA's code."""
        return error_for(response, context)

    def close(self) -> None:
        """Forget cached lookups."""
        self.lookups.clear()
        self._preflight.clear()
        self._inspector.clear()

    def _split(self, ref: RunRef) -> tuple[str, str]:
        project, sep, analysis = ref.id.rpartition("/")
        if not sep:
            return self.settings.project(), ref.id
        if not project or not analysis:
            raise SpecError(
                f"{ref} is not an ICA run reference",
                hint="write it as ica:<projectId>/<analysisId>",
            )
        return project, analysis

    def _to_status(self, data: Any, project: str, batch: str | None) -> RunStatus:
        if not isinstance(data, dict) or "id" not in data:
            raise PlatformError(f"ICA answered with an analysis without an id: {str(data)[:120]}")
        native = data.get("status")
        native = native if isinstance(native, str) else None
        pipeline = data.get("pipeline")
        return RunStatus(
            ref=RunRef("ica", f"{project}/{data['id']}", batch),
            state=self.state_of(native),
            native=native,
            message=data.get("summary") or None,
            created=_time(data.get("timeCreated")),
            started=_time(data.get("startDate")),
            ended=_time(data.get("endDate")),
            name=data.get("userReference"),
            extra={
                "reference": data.get("reference"),
                "pipeline": pipeline.get("id") if isinstance(pipeline, dict) else None,
            },
        )

    # -- operations --------------------------------------------------------------------

    def launch(self, spec: RunSpec, key: str, *, batch: str | None = None) -> Exchange[RunStatus]:
        """Resolve codes/paths/storage (cached), then POST the create with ``Idempotency-Key``."""
        return self._launch(spec, key, batch)

    def _launch(self, spec: RunSpec, key: str, batch: str | None) -> Exchange[RunStatus]:
        p = plan(spec)
        self.settings.auth_headers()  # ConfigError before any request
        project = self.settings.project(p.project)
        # independent lookups (each cached after its first answer) in one round trip
        found = yield from gather(
            self.lookups.pipeline(project, p),
            *(
                self.lookups.data_id(project, mount, index)
                if mount.kind == "path"
                else (mount.source if mount.kind == "id" else None)
                for index, mount in enumerate(p.mounts)
            ),
            self.lookups.storage(project, p.storage),
        )
        pipeline_id, data_ids, storage_id = found[0], found[1:-1], found[-1]
        codes = yield from self.lookups.input_codes(project, pipeline_id, p)
        activation = p.activation if p.activation != "auto" else None
        resolved = Resolved(project, pipeline_id, storage_id, activation, tuple(data_ids), codes)
        payload = body(p, resolved, key=key, batch=batch)
        if p.activation == "auto":
            search = {
                "projectId": project,
                "pipelineId": pipeline_id,
                "analysisInput": payload["analysisInput"],
            }
            resp = yield post(
                self.settings,
                "/api/activationCodes:findBestMatchingForNextflow",
                V3,
                "find activation code",
                search,
                read_only=True,
            )
            payload["activationCodeDetailId"] = str(response_json(resp)["id"])
        created = yield post(
            self.settings,
            f"/api/projects/{project}/{p.endpoint}",
            V4,
            f"create {p.kind} analysis",
            payload,
            extra={"Idempotency-Key": key},
        )
        return self._to_status(response_json(created), project, batch)

    def recover(
        self, spec: RunSpec, key: str, *, since: float, claimed: frozenset[str] = frozenset()
    ) -> Exchange[RunStatus | None]:
        """Find the run an interrupted launch with ``key`` created, by its key tag.

        Within 7 days ICA would replay the first answer to the same key anyway; the
        tag also covers older attempts, and a run already claimed is never adopted.
        """
        return self._recover(spec, key, claimed)

    def _recover(
        self, spec: RunSpec, key: str, claimed: frozenset[str]
    ) -> Exchange[RunStatus | None]:
        project = self.settings.project(plan(spec).project)
        resp = yield post(
            self.settings,
            f"/api/projects/{project}/analysis:search",
            V3,
            "find an interrupted launch",
            {"technicalTags": [key_tag(key)]},
            read_only=True,
            params={"pageSize": "10"},
        )
        for item in response_json(resp).get("items", []):
            if isinstance(item, dict) and f"{project}/{item.get('id')}" not in claimed:
                return self._to_status(item, project, None)
        return None

    def status(self, ref: RunRef) -> Exchange[RunStatus]:
        """``GET …/analyses/{id}`` (v4)."""
        project, analysis = self._split(ref)
        resp = yield get(
            self.settings, f"/api/projects/{project}/analyses/{analysis}", V4, "get analysis"
        )
        return self._to_status(response_json(resp), project, ref.batch)

    def statuses(self, refs: Sequence[RunRef]) -> Exchange[list[RunStatus]]:
        """One ``analysis:search`` page per 1000 runs of a batch; per-run GETs otherwise."""
        return self._statuses(list(refs))

    def _statuses(self, refs: list[RunRef]) -> Exchange[list[RunStatus]]:
        results: list[RunStatus | None] = [None] * len(refs)
        groups: dict[tuple[str, str], dict[str, list[int]]] = {}
        for index, ref in enumerate(refs):
            if ref.batch:
                project, analysis = self._split(ref)
                groups.setdefault((project, ref.batch), {}).setdefault(analysis, []).append(index)
        for (project, batch), wanted in groups.items():
            found: set[str] = set()
            token: str | None = None
            while True:
                params: dict[str, Any] = {"pageSize": str(self.settings.page_size)}
                if token:
                    params["pageToken"] = token
                resp = yield post(
                    self.settings,
                    f"/api/projects/{project}/analysis:search",
                    V3,
                    "search analyses of a batch",
                    {"technicalTags": [batch_tag(batch)]},
                    read_only=True,
                    params=params,
                )
                data = response_json(resp)
                for item in data.get("items", []):
                    if not isinstance(item, dict):
                        continue
                    for index in wanted.get(str(item.get("id")), ()):
                        results[index] = self._to_status(item, project, batch)
                        found.add(str(item.get("id")))
                token = data.get("nextPageToken") or None
                if not token or len(found) == len(wanted):
                    break
        for index, ref in enumerate(refs):
            if results[index] is None:  # no batch, or not (yet) visible to search
                results[index] = yield from self.status(ref)
        return [r for r in results if r is not None]

    def cancel(self, ref: RunRef) -> Exchange[RunStatus]:
        """``POST …/analyses/{id}:abort`` (explicit v3 headers; 204), then the status."""
        project, analysis = self._split(ref)
        yield post(
            self.settings,
            f"/api/projects/{project}/analyses/{analysis}:abort",
            V3,
            "abort analysis",
            idempotent=True,
        )
        return (yield from self.status(ref))

    def outputs(self, ref: RunRef) -> Exchange[list[Output]]:
        """``GET …/analyses/{id}/outputs`` flattened into files and folders."""
        project, analysis = self._split(ref)
        resp = yield get(
            self.settings,
            f"/api/projects/{project}/analyses/{analysis}/outputs",
            V3,
            "list outputs",
        )
        found: list[Output] = []
        for item in response_json(resp).get("items", []):
            for data in item.get("data") or []:
                _flatten(data, "", found)
        # The outputs answer has no sizes: one data listing per 100 files adds them.
        files = [o.id for o in found if o.kind == "file" and o.id]
        sizes: dict[str, int] = {}
        for start in range(0, len(files), _SIZE_CHUNK):
            chunk = files[start : start + _SIZE_CHUNK]
            listed = yield get(
                self.settings,
                f"/api/projects/{project}/data",
                V3,
                "output sizes",
                id=chunk,
                pageSize=str(len(chunk)),
            )
            for entry in response_json(listed).get("items", []):
                data = entry.get("data") if isinstance(entry, dict) else None
                details = data.get("details") if isinstance(data, dict) else None
                size = details.get("fileSizeInBytes") if isinstance(details, dict) else None
                if isinstance(size, int) and isinstance(data, dict):
                    sizes[str(data.get("id"))] = size
        return [Output(o.path, sizes.get(o.id or "", o.size), o.kind, o.id) for o in found]

    def download_urls(self, ref: RunRef, outputs: Sequence[Output]) -> Exchange[list[Output]]:
        """Presigned URLs for the file outputs (``POST …/data:createDownloadUrls``)."""
        return self._download_urls(ref, list(outputs))

    def _download_urls(self, ref: RunRef, outputs: list[Output]) -> Exchange[list[Output]]:
        project, _ = self._split(ref)
        ids = [o.id for o in outputs if o.kind == "file" and o.id]
        if not ids:
            return outputs
        resp = yield post(
            self.settings,
            f"/api/projects/{project}/data:createDownloadUrls",
            V3,
            "create download urls",
            {"dataIds": ids},
            read_only=True,
        )
        urls = {i.get("dataId"): i.get("url") for i in response_json(resp).get("items", [])}
        return [Output(o.path, o.size, o.kind, o.id, urls.get(o.id, o.url)) for o in outputs]

    # -- pre-flight, detail, logs, the platform's runs (see preflight.py, inspection.py)

    def preflight(self, spec: RunSpec) -> Exchange[None]:
        """The launch's lookups and the pipeline's input codes (cached); nothing is created."""
        return self._preflight.check(spec)

    def detail(self, ref: RunRef) -> Exchange[RunDetail]:
        """The analysis, its parameters and inputs."""
        project, analysis = self._split(ref)
        return self._inspector.detail(project, analysis, ref.batch)

    def logs(self, ref: RunRef, stream: str = "stdout") -> Exchange[LogText]:
        """The steps' logs of ``stream`` (stdout or stderr) that ICA has as files."""
        project, analysis = self._split(ref)
        return self._inspector.logs(project, analysis, ref.batch, stream)

    def list_runs(
        self, *, target: str | None = None, limit: int = 100
    ) -> Exchange[list[RunStatus]]:
        """The analyses of the project (``target`` or ``ICAV2_PROJECT_ID``)."""
        return self._inspector.list_runs(self.settings.project(target), limit)


def _flatten(data: dict[str, Any], parent: str, into: list[Output]) -> None:
    name = str(data.get("name", ""))
    path = str(data.get("mountPath") or (f"{parent}/{name}" if parent else name))
    folder = data.get("dataType") == "FOLDER"
    into.append(Output(path, None, "folder" if folder else "file", data.get("dataId")))
    for child in data.get("children") or []:
        _flatten(child, path.rstrip("/"), into)


__all__ = ["IcaBackend"]
