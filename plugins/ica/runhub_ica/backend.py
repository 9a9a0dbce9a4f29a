"""The ``ica`` backend: launch and track ICA v2 analyses as sans-IO exchanges.

Lookups (pipeline codes, storage sizes, data paths, pipeline inputs, project names)
are cached per backend instance, so a samplesheet of 1000 runs of one pipeline costs
one lookup of each kind, and polling 1000 runs of one batch costs one search request.
Every operation first makes sure of its credentials (:mod:`runhub_ica.auth`: the API
key exchanged once per process for a JWT); a 401 to a JWT renews it once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar, TypeVar

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
from runhub.errors import AuthError, PlatformError, SpecError
from runhub.events import Ignored, StatusEvent
from runhub.gather import gather
from runhub.grouplaunch import GroupAnswer, GroupNotes, GroupRow
from runhub.spec import RunSpec
from runhub.state import RunStatus
from runhub_ica._version import __version__
from runhub_ica.auth import Credentials
from runhub_ica.batchkeys import batch_keys
from runhub_ica.creationbatch import CreationBatches, group_kind
from runhub_ica.datapaths import DataItem
from runhub_ica.events import parse_event
from runhub_ica.inspection import Inspector
from runhub_ica.lookups import Lookups
from runhub_ica.names import check_key
from runhub_ica.outputs import file_urls, list_outputs
from runhub_ica.preflight import Preflight
from runhub_ica.problems import error_for
from runhub_ica.recovery import find_launch
from runhub_ica.settings import IcaSettings
from runhub_ica.states import STATES
from runhub_ica.translate import (
    V3,
    V4,
    Plan,
    Resolved,
    batch_tag,
    body,
    check_form,
    endpoint,
    needs_name,
    plan,
    unstaged,
)
from runhub_ica.upload import IcaData
from runhub_ica.wire import get, post

T = TypeVar("T")


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
    version: ClassVar[str | None] = __version__
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
        stage=True,
        group_launch=True,
    )
    states = STATES

    def __init__(self, settings: IcaSettings) -> None:
        super().__init__(settings)
        self.creds = Credentials(settings)
        self.lookups = Lookups(self.creds)
        #: data id -> project of the outputs listed (outputs may go to another project)
        self._output_projects: dict[str, str] = {}
        self._preflight = Preflight(self.creds, self.lookups)
        self._inspector = Inspector(self.creds, self._to_status)
        self._batches = CreationBatches(self)

    # -- offline -----------------------------------------------------------------

    def validate(self, spec: RunSpec) -> None:
        """Every check that needs no I/O (see :func:`runhub_ica.translate.plan`)."""
        plan(spec)

    @classmethod
    def parse_event(cls, message: Mapping[str, Any]) -> StatusEvent | Ignored | None:
        """An ICA notification (analysis event codes) as a status event (events.py)."""
        return parse_event(message)

    def error_for(self, response: httpx.Response, context: str) -> PlatformError:
        """ICA problem+json -> PlatformError/AuthError/NotFound with ICA's code."""
        return error_for(response, context)

    def close(self) -> None:
        """Forget cached lookups (the process's JWT stays: other backends share it)."""
        self.lookups.clear()
        self._preflight.clear()
        self._inspector.clear()

    def data(self) -> IcaData:
        """Uploads, listings and downloads (:mod:`runhub_ica.upload`)."""
        return IcaData(self.settings, self.creds, self.lookups, self._authed)

    def secrets(self) -> list[str]:
        """The key or token of the settings, and the JWT obtained for the key, if any."""
        token = self.creds.token()
        return [*super().secrets(), *([token] if token else [])]

    def _authed(self, make: Callable[[], Exchange[T]]) -> Exchange[T]:
        """Run an operation with credentials at hand; a 401 to the cached JWT (revoked,
        or expired early) renews it and runs the operation once more. Safe: ICA did
        nothing for a request it refused, and a create carries its Idempotency-Key."""
        yield from self.creds.ready()
        used = self.creds.token()
        try:
            return (yield from make())
        except AuthError as error:
            if error.status != 401 or not self.creds.forget(used):
                raise
        yield from self.creds.ready()
        return (yield from make())

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

    def _where(self, ref: RunRef) -> Exchange[tuple[str, str]]:
        """(project id, analysis id) of a reference; a project name is resolved."""
        project, analysis = self._split(ref)
        where = "ICAV2_PROJECT_ID" if "/" not in ref.id else str(ref)
        return (yield from self.lookups.project_id(project, where)), analysis

    def _project(self, override: str | None) -> Exchange[str]:
        """The run's project id: ``options.ica.project`` or ``ICAV2_PROJECT_ID`` (an id or
        an exact project name)."""
        text = self.settings.project(override)
        where = "options.ica.project" if override else "ICAV2_PROJECT_ID"
        return (yield from self.lookups.project_id(text, where))

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
        p = plan(spec)
        unstaged(p)
        check_key(key)
        self.settings.auth_headers()  # ConfigErrors before any request
        self.settings.project(p.project)
        return self._authed(lambda: self._launch(p, key, batch))

    def _launch(self, p: Plan, key: str, batch: str | None) -> Exchange[RunStatus]:
        project, resolved, payload = yield from self.resolve(p, key, batch)
        created = yield post(
            self.creds,
            f"/api/projects/{project}/{endpoint(p, resolved)}",
            V4,
            f"create {p.kind} analysis",
            payload,
            extra={"Idempotency-Key": key},
        )
        return self._to_status(response_json(created), project, batch)

    def resolve(
        self, p: Plan, key: str, batch: str | None
    ) -> Exchange[tuple[str, Resolved, dict[str, Any]]]:
        """The lookups of a launch (cached) and its create body: (project id, the
        ids looked up, body). Read-only; needs credentials at hand (``_authed``)."""
        project = yield from self._project(p.project)
        # independent lookups (each cached after its first answer) in one round trip
        found = yield from gather(
            self.lookups.pipeline(project, p),
            *(
                self.lookups.data(project, mount, index)
                if mount.kind == "path"
                else (
                    self.lookups.data_name(project, mount.source) if needs_name(p, index) else None
                )
                for index, mount in enumerate(p.mounts)
            ),
            self.lookups.storage(project, p.storage),
        )
        pipeline, per_mount, storage_id = found[0], found[1:-1], found[-1]
        data_ids = tuple(
            item.id if isinstance(item, DataItem) else (m.source if m.kind == "id" else None)
            for m, item in zip(p.mounts, per_mount, strict=True)
        )
        names = tuple(
            item.name if isinstance(item, DataItem) else item if isinstance(item, str) else None
            for item in per_mount
        )
        codes = yield from self.lookups.input_codes(project, pipeline.id, p)
        activation = p.activation if p.activation != "auto" else None
        resolved = Resolved(
            project, pipeline.id, storage_id, activation, data_ids, codes, names, pipeline.form
        )
        check_form(p, resolved)  # what a JSON-form pipeline cannot take: before any POST
        payload = body(p, resolved, key=key, batch=batch)
        if p.activation == "auto":
            search = {
                "projectId": project,
                "pipelineId": pipeline.id,
                "analysisInput": payload["analysisInput"],
            }
            resp = yield post(
                self.creds,
                "/api/activationCodes:findBestMatchingForNextflow",
                V3,
                "find activation code",
                search,
                read_only=True,
            )
            payload["activationCodeDetailId"] = str(response_json(resp)["id"])
        return project, resolved, payload

    def group_key(self, spec: RunSpec) -> str | None:
        """Runs of the kinds ``analysisCreationBatch`` takes (nextflow, cwl) group by
        their project; the others are launched alone (creationbatch.py)."""
        try:
            return group_kind(plan(spec))
        except SpecError:
            return None

    def launch_group(
        self, rows: Sequence[GroupRow], *, batch: str, notes: GroupNotes
    ) -> Exchange[dict[str, GroupAnswer]]:
        """One step of launching ``rows`` in creation batches (creationbatch.py)."""
        self.settings.auth_headers()  # ConfigErrors before any request
        asked = list(rows)
        return self._authed(lambda: self._batches.step(asked, batch, notes))

    def plan_group(self, rows: Sequence[GroupRow], *, batch: str) -> Exchange[list[httpx.Request]]:
        """The creation-batch requests ``launch_group`` would send for new rows
        (lookups sent, the requests not): for dry runs."""
        self.settings.auth_headers()
        asked = list(rows)
        return self._authed(lambda: self._batches.requests(asked, batch))

    def recover(
        self, spec: RunSpec, key: str, *, since: float, claimed: frozenset[str] = frozenset()
    ) -> Exchange[RunStatus | None]:
        """Find the run an interrupted launch with ``key`` created, by its key tag.

        Within 7 days ICA would replay the first answer to the same key anyway; the
        tag also covers older attempts. The spec does not say how ``analysis:search``
        matches tags, so its answer is only a list of candidates: a run is adopted
        only if it carries the exact key tag, is in the expected project and runs the
        expected pipeline, and no other launch claimed it. Every page is read.
        """
        p = plan(spec)
        self.settings.project(p.project)
        return self._authed(lambda: self._recover(p, key, claimed))

    def _recover(self, p: Plan, key: str, claimed: frozenset[str]) -> Exchange[RunStatus | None]:
        project = yield from self._project(p.project)
        pipeline = yield from self.lookups.pipeline(project, p)
        found = yield from find_launch(
            self.creds, project, pipeline.id, key, claimed, self.settings.page_size
        )
        return self._to_status(found, project, None) if found is not None else None

    def batch_keys(self, batch: str, specs: Sequence[RunSpec]) -> Exchange[frozenset[str] | None]:
        """The launch keys of the batch's analyses, by its technical tag (batchkeys.py)."""
        overrides = sorted({plan(spec).project or "" for spec in specs})
        return self._authed(lambda: self._batch_keys(batch, overrides))

    def _batch_keys(self, batch: str, overrides: list[str]) -> Exchange[frozenset[str] | None]:
        projects = set()
        for override in overrides:
            projects.add((yield from self._project(override or None)))
        size = self.settings.page_size
        return (yield from batch_keys(self.creds, batch, sorted(projects), size))

    def status(self, ref: RunRef) -> Exchange[RunStatus]:
        """``GET …/analyses/{id}`` (v4)."""
        self._split(ref)
        return self._authed(lambda: self._status(ref))

    def _status(self, ref: RunRef) -> Exchange[RunStatus]:
        project, analysis = yield from self._where(ref)
        resp = yield get(
            self.creds, f"/api/projects/{project}/analyses/{analysis}", V4, "get analysis"
        )
        return self._to_status(response_json(resp), project, ref.batch)

    def statuses(self, refs: Sequence[RunRef]) -> Exchange[list[RunStatus]]:
        """One ``analysis:search`` page per 1000 runs of a batch; per-run GETs otherwise."""
        asked = list(refs)
        for ref in asked:
            self._split(ref)
        return self._authed(lambda: self._statuses(asked))

    def _statuses(self, refs: list[RunRef]) -> Exchange[list[RunStatus]]:
        results: list[RunStatus | None] = [None] * len(refs)
        groups: dict[tuple[str, str], dict[str, list[int]]] = {}
        for index, ref in enumerate(refs):
            if ref.batch:
                project, analysis = yield from self._where(ref)
                groups.setdefault((project, ref.batch), {}).setdefault(analysis, []).append(index)
        for (project, batch), wanted in groups.items():
            found: set[str] = set()
            token: str | None = None
            tokens: set[str] = set()  # a token handed out twice ends the listing
            while True:
                params: dict[str, Any] = {"pageSize": str(self.settings.page_size)}
                if token:
                    params["pageToken"] = token
                resp = yield post(
                    self.creds,
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
                if not token or token in tokens or len(found) == len(wanted):
                    break
                tokens.add(token)
        for index, ref in enumerate(refs):
            if results[index] is None:  # no batch, or not (yet) visible to search
                results[index] = yield from self._status(ref)
        return [r for r in results if r is not None]

    def cancel(self, ref: RunRef) -> Exchange[RunStatus]:
        """``POST …/analyses/{id}:abort`` (explicit v3 headers; 204), then the status."""
        self._split(ref)
        return self._authed(lambda: self._cancel(ref))

    def _cancel(self, ref: RunRef) -> Exchange[RunStatus]:
        project, analysis = yield from self._where(ref)
        yield post(
            self.creds,
            f"/api/projects/{project}/analyses/{analysis}:abort",
            V3,
            "abort analysis",
            idempotent=True,
        )
        return (yield from self._status(ref))

    def outputs(self, ref: RunRef) -> Exchange[list[Output]]:
        """``GET …/analyses/{id}/outputs`` flattened into files and folders.

        Paths are built from the outputs' own names (``AnalysisData.name``, from the
        output folder down); ``mountPath`` is documented as the *input* location on
        the machine, so it is not used. Sizes come from the project the outputs are
        in (``AnalysisOutput.projectId``: ``analysisOutput`` may target another one).
        """
        self._split(ref)
        return self._authed(lambda: self._outputs(ref))

    def _outputs(self, ref: RunRef) -> Exchange[list[Output]]:
        project, analysis = yield from self._where(ref)
        found, where = yield from list_outputs(self.creds, self.lookups, project, analysis)
        self._output_projects.update(where)
        return found

    def download_urls(self, ref: RunRef, outputs: Sequence[Output]) -> Exchange[list[Output]]:
        """Presigned URLs for the file outputs (``POST …/data:createDownloadUrls``, in
        the project each output is in)."""
        self._split(ref)
        asked = list(outputs)
        return self._authed(lambda: self._download_urls(ref, asked))

    def _download_urls(self, ref: RunRef, outputs: list[Output]) -> Exchange[list[Output]]:
        project, _ = yield from self._where(ref)
        files = [o for o in outputs if o.kind == "file" and o.id]
        urls = yield from file_urls(self.creds, files, self._output_projects, project)
        return [replace(o, url=urls.get(o.id or "", o.url)) for o in outputs]

    # -- pre-flight, detail, logs, the platform's runs (see preflight.py, inspection.py)

    def preflight(self, spec: RunSpec) -> Exchange[None]:
        """The launch's lookups and the pipeline's input codes (cached); nothing is created."""
        p = plan(spec)
        self.settings.auth_headers()  # ConfigErrors before any request
        self.settings.project(p.project)
        return self._authed(lambda: self._preflight_check(spec, p))

    def _preflight_check(self, spec: RunSpec, p: Plan) -> Exchange[None]:
        project = yield from self._project(p.project)
        return (yield from self._preflight.check(spec, project))

    def detail(self, ref: RunRef) -> Exchange[RunDetail]:
        """The analysis, its parameters and inputs."""
        self._split(ref)

        def run() -> Exchange[RunDetail]:
            project, analysis = yield from self._where(ref)
            return (yield from self._inspector.detail(project, analysis, ref.batch))

        return self._authed(run)

    def logs(self, ref: RunRef, stream: str = "stdout") -> Exchange[LogText]:
        """The steps' logs of ``stream`` (stdout or stderr) that ICA has as files."""
        self._split(ref)

        def run() -> Exchange[LogText]:
            project, analysis = yield from self._where(ref)
            return (yield from self._inspector.logs(project, analysis, ref.batch, stream))

        return self._authed(run)

    def list_runs(
        self, *, target: str | None = None, limit: int = 100
    ) -> Exchange[list[RunStatus]]:
        """The analyses of the project (``target`` or ``ICAV2_PROJECT_ID``)."""
        self.settings.project(target)

        def run() -> Exchange[list[RunStatus]]:
            project = yield from self._project(target)
            return (yield from self._inspector.list_runs(project, limit))

        return self._authed(run)


__all__ = ["IcaBackend"]
