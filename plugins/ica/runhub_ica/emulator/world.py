"""The emulator's state: data, pipelines, analyses, and how analyses progress in time.

Bodies built here follow the official response schemas (the app checks them).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from runhub.testing.emulator import Clock
from runhub_ica.emulator import content, seed
from runhub_ica.states import LIFECYCLE

#: Emulated seconds spent in each state of a successful analysis.
DURATIONS: dict[str, float] = {
    "REQUESTED": 1.0,
    "QUEUED": 1.0,
    "INITIALIZING": 1.0,
    "PREPARING_INPUTS": 1.0,
    "IN_PROGRESS": 3.0,
    "GENERATING_OUTPUTS": 1.0,
}
ABORT_SECONDS = 1.0
SLOW_SECONDS = 86_400.0
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "FAILED_FINAL", "ABORTED"})
#: V4 status -> the closed V3 enum (REQUESTED, AWAITINGINPUT, INPROGRESS, SUCCEEDED,
#: FAILED, FAILEDFINAL, ABORTED). The spec does not say how the V4-only statuses read
#: in V3; this is the emulator's reading.
V3_STATUS = {
    "QUEUED": "REQUESTED",
    "INITIALIZING": "INPROGRESS",
    "PREPARING_INPUTS": "INPROGRESS",
    "IN_PROGRESS": "INPROGRESS",
    "GENERATING_OUTPUTS": "INPROGRESS",
    "ABORTING": "INPROGRESS",
    "AWAITING_INPUT": "AWAITINGINPUT",
    "FAILED_FINAL": "FAILEDFINAL",
}


def data_id(prefix: str, project: str, path: str) -> str:
    """A stable ``fil.``/``fol.`` id (32 hex) for a path."""
    return f"{prefix}.{hashlib.md5(f'{project}:{path}'.encode()).hexdigest()}"


@dataclass
class DataRec:
    """One file or folder of a project."""

    id: str
    project: str
    path: str  # folders end with "/"
    size: int | None
    created: datetime
    #: ``DataDetails.status``: PARTIAL (upload unfinished), AVAILABLE, ARCHIVED, ...
    status: str = "AVAILABLE"
    technical_tags: list[str] = field(default_factory=list)
    #: The storage's ETag (``objectETag``), once the object exists (emulator/uploads.py).
    etag: str | None = None

    @property
    def folder(self) -> bool:
        return self.path.endswith("/")

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]


@dataclass
class AnalysisRec:
    """One analysis and what it needs to answer status, search and outputs."""

    id: str
    reference: str
    project: str
    user_reference: str
    pipeline: seed.Pipeline
    storage: str
    tags: dict[str, list[str]]
    created_at: float
    fail: bool = False
    slow: bool = False
    aborted_at: float | None = None
    output_target: str | None = None
    #: Where the outputs land (``analysisOutput.targetProjectId``; else the run's own).
    output_project: str | None = None
    outputs: list[DataRec] = field(default_factory=list)


class World:
    """Projects, pipelines, storages, data and analyses, on one emulated clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.epoch = datetime.now(UTC).replace(microsecond=0)
        self.projects = {ident: name for ident, name, _ in seed.PROJECTS}
        #: Projects listed only with ``includeHiddenProjects=true``.
        self.hidden = {ident for ident, _, hidden in seed.PROJECTS if hidden}
        self.pipelines = {p.id: p for p in seed.PIPELINES}
        self.storage_names = {v: k for k, v in seed.STORAGES.items()}
        self.data: dict[str, DataRec] = {}
        self.analyses: dict[str, AnalysisRec] = {}
        #: (name, size) of extra files every analysis writes at the top of its output
        #: folder, e.g. the seed "Pipeline Chaining on AWS" scenario's ``test.txt``.
        self.extra_outputs: tuple[tuple[str, int], ...] = ()
        for project, path, size in seed.DATA:
            self.add_data(project, path, size, seed.STATUS.get((project, path), "AVAILABLE"))

    # -- time ----------------------------------------------------------------------

    def at(self, seconds: float) -> datetime:
        """The wall-clock time of an emulated instant."""
        return self.epoch + timedelta(seconds=seconds)

    def stamp(self, seconds: float) -> str:
        return self.at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- data ----------------------------------------------------------------------

    def add_data(
        self, project: str, path: str, size: int | None, status: str = "AVAILABLE"
    ) -> DataRec:
        prefix = "fol" if path.endswith("/") else "fil"
        rec = DataRec(data_id(prefix, project, path), project, path, size, self.epoch, status)
        rec.etag = None if rec.folder else content.etag(rec.id, size)
        self.data[rec.id] = rec
        return rec

    def data_body(self, rec: DataRec, *, parent_paths: bool = False) -> dict[str, Any]:
        """``ProjectData`` for ``rec``; ``details.path`` is the item's own path, or with
        ``parent_paths`` its parent's (the spec's wording; see :mod:`.variance`)."""
        details: dict[str, Any] = {
            "timeCreated": self.stamp(0),
            "timeModified": self.stamp(0),
            "tenantId": seed.TENANT_ID,
            "tenantName": seed.TENANT_NAME,
            "owningProjectId": rec.project,
            "owningProjectName": self.projects.get(rec.project, "project"),
            "name": rec.name,
            "path": _parent(rec.path) if parent_paths else rec.path,
            "status": rec.status,
            "tags": {
                "technicalTags": list(rec.technical_tags),
                "userTags": [],
                "connectorTags": [],
                "runInTags": [],
                "runOutTags": [],
                "referenceTags": [],
            },
            "dataType": "FOLDER" if rec.folder else "FILE",
        }
        if rec.size is not None:
            details["fileSizeInBytes"] = rec.size
        if rec.etag is not None:
            details["objectETag"] = rec.etag
        return {
            "data": {
                "id": rec.id,
                "urn": f"urn:ilmn:ica:region:{seed.REGION_ID}:data:{rec.id}#{rec.path}",
                "details": details,
            },
            "projectId": rec.project,
        }

    # -- pipelines -------------------------------------------------------------------

    def storage_v3(self, name: str) -> dict[str, Any]:
        return {
            "id": seed.STORAGES[name],
            "timeCreated": self.stamp(0),
            "timeModified": self.stamp(0),
            "ownerId": seed.OWNER_ID,
            "tenantId": seed.TENANT_ID,
            "tenantName": seed.TENANT_NAME,
            "name": name,
            "description": f"{name} analysis storage",
        }

    def pipeline_v3(self, p: seed.Pipeline) -> dict[str, Any]:
        return {
            "id": p.id,
            "timeCreated": self.stamp(0),
            "timeModified": self.stamp(0),
            "ownerId": seed.OWNER_ID,
            "tenantId": seed.TENANT_ID,
            "tenantName": seed.TENANT_NAME,
            "code": p.code,
            "urn": f"urn:ilmn:ica:pipeline:{p.id}#{p.code}",
            "description": p.description,
            "status": "RELEASED",
            "language": p.language,
            "pipelineTags": {"technicalTags": []},
            "analysisStorage": self.storage_v3(p.storage),
            "proprietary": False,
            "inputFormType": p.form,
        }

    def pipeline_v4(self, p: seed.Pipeline) -> dict[str, Any]:
        body = self.pipeline_v3(p)
        for key in ("ownerId", "tenantId", "tenantName"):
            body.pop(key)
        body["owner"] = {"id": seed.OWNER_ID}
        body["tenant"] = {"id": seed.TENANT_ID, "name": seed.TENANT_NAME}
        body["analysisStorage"] = {
            "id": seed.STORAGES[p.storage],
            "name": p.storage,
            "description": f"{p.storage} analysis storage",
        }
        return body

    # -- analyses --------------------------------------------------------------------

    def new_analysis(
        self,
        project: str,
        user_reference: str,
        pipeline: seed.Pipeline,
        storage: str,
        tags: dict[str, list[str]],
        *,
        fail: bool,
        slow: bool,
        output_target: str | None,
        output_project: str | None = None,
    ) -> AnalysisRec:
        ident = str(uuid.uuid4())
        rec = AnalysisRec(
            id=ident,
            reference=f"{user_reference.replace('/', '-')}-{pipeline.code}-{ident[:8]}"[:255],
            project=project,
            user_reference=user_reference,
            pipeline=pipeline,
            storage=storage,
            tags=tags,
            created_at=self.clock.now(),
            fail=fail,
            slow=slow,
            output_target=output_target,
            output_project=output_project,
        )
        self.analyses[ident] = rec
        return rec

    def timeline(self, rec: AnalysisRec) -> list[tuple[str, float]]:
        """(status, start time) for every status the analysis will pass through."""
        steps: list[tuple[str, float]] = []
        t = rec.created_at
        for status in LIFECYCLE[:-1]:
            steps.append((status, t))
            duration = DURATIONS[status]
            if status == "IN_PROGRESS" and rec.slow:
                duration = SLOW_SECONDS
            t += duration
            if status == "IN_PROGRESS" and rec.fail:
                steps.append(("FAILED", t))
                return steps
        steps.append(("SUCCEEDED", t))
        return steps

    def status_at(self, rec: AnalysisRec, now: float) -> tuple[str, float | None, float | None]:
        """(status, start time, end time) of ``rec`` at emulated time ``now``."""
        steps = self.timeline(rec)
        current, since = steps[0]
        for status, t in steps:
            if t <= now:
                current, since = status, t
        started = next((t for s, t in steps if s == "INITIALIZING" and t <= now), None)
        ended = since if current in TERMINAL else None
        if rec.aborted_at is not None:
            # An abort only counts if it came before the analysis ended on its own.
            end_of_run = steps[-1][1]
            if rec.aborted_at < end_of_run:
                if now < rec.aborted_at + ABORT_SECONDS:
                    return "ABORTING", started, None
                return "ABORTED", started, rec.aborted_at + ABORT_SECONDS
        if current == "SUCCEEDED" and not rec.outputs:
            self._make_outputs(rec)
        return current, started, ended

    def _make_outputs(self, rec: AnalysisRec) -> None:
        base = rec.output_target or f"/{rec.user_reference.replace('/', '_')}_{rec.id[:8]}/"
        stem = rec.user_reference.replace("/", "_").replace(" ", "_")
        for path, size in (
            (base, None),
            (f"{base}{stem}.report.html", 48_213),
            (f"{base}results/", None),
            (f"{base}results/{stem}.summary.tsv", 1_024),
            *((f"{base}{name}", size) for name, size in self.extra_outputs),
        ):
            rec.outputs.append(self.add_data(rec.output_project or rec.project, path, size))

    def analysis_v4(self, rec: AnalysisRec) -> dict[str, Any]:
        now = self.clock.now()
        status, started, ended = self.status_at(rec, now)
        body: dict[str, Any] = {
            "id": rec.id,
            "timeCreated": self.stamp(rec.created_at),
            "timeModified": self.stamp(now),
            "owner": {"id": seed.OWNER_ID},
            "tenant": {"id": seed.TENANT_ID, "name": seed.TENANT_NAME},
            "reference": rec.reference,
            "userReference": rec.user_reference,
            "pipeline": self.pipeline_v4(rec.pipeline),
            "status": status,
            "analysisStorage": {"id": seed.STORAGES[rec.storage], "name": rec.storage},
            "analysisPriority": "MEDIUM",
            "tags": rec.tags,
            "projectId": rec.project,
        }
        if started is not None:
            body["startDate"] = self.stamp(started)
        if ended is not None:
            body["endDate"] = self.stamp(ended)
        if status == "FAILED":
            body["summary"] = "Pipeline step failed (scripted by the emulator)"
        return body

    def analysis_v3(self, rec: AnalysisRec) -> dict[str, Any]:
        """``AnalysisV3`` (Accept v3): identifiers flattened, the closed V3 status enum."""
        body = self.analysis_v4(rec)
        body.pop("projectId", None)
        body.pop("owner")
        tenant = body.pop("tenant")
        body.update(ownerId=seed.OWNER_ID, tenantId=tenant["id"], tenantName=tenant["name"])
        body["status"] = V3_STATUS.get(body["status"], body["status"])
        body["pipeline"] = self.pipeline_v3(rec.pipeline)
        body["analysisStorage"] = self.storage_v3(rec.storage)
        return body

    def outputs_body(self, rec: AnalysisRec, *, machine_paths: bool = False) -> dict[str, Any]:
        status, _, _ = self.status_at(rec, self.clock.now())
        if status != "SUCCEEDED" or not rec.outputs:
            return {"items": []}
        root, *rest = rec.outputs
        fmt = {
            "id": "d1e2f3a4-0000-4000-8000-0000000000f1",
            "timeCreated": self.stamp(0),
            "timeModified": self.stamp(0),
            "ownerId": seed.OWNER_ID,
            "tenantId": seed.TENANT_ID,
            "code": "UNKNOWN",
        }

        def node(d: DataRec) -> dict[str, Any]:
            children = [node(c) for c in rest if c.path != d.path and _parent(c.path) == d.path]
            out: dict[str, Any] = {
                "dataId": d.id,
                "format": fmt,
                "name": d.name,
                "dataType": "FOLDER" if d.folder else "FILE",
                "mountPath": ("/ces/ica/out/" if machine_paths else "out/")
                + d.path[len(root.path) :],
            }
            if children:
                out["children"] = children
            return out

        project = rec.output_project or rec.project
        return {"items": [{"code": "out", "projectId": project, "data": [node(root)]}]}


def _parent(path: str) -> str:
    return path.rstrip("/").rsplit("/", 1)[0] + "/"
