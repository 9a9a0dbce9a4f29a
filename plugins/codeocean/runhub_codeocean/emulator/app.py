"""A stateful in-memory Code Ocean (the API subset runhub uses).

Serve it in-process with ``runhub.testing.emulator.mock_transport(app)`` or over
HTTP with ``EmulatorServer(app)`` / ``python -m runhub_codeocean.emulator``.
It checks HTTP Basic auth (token as user name, empty password), checks run
requests against the SDK's ``RunParams`` model and the seeded capsules, and
answers 400/401/404 with ``{"message": ...}`` like Code Ocean. ``variance`` switches
on documented readings of the platform the default mode does not show (see
:mod:`.variance`).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, unquote

import httpx

from runhub.testing.emulator import Clock
from runhub_codeocean.emulator.assets import Assets
from runhub_codeocean.emulator.catalog import LOGS, Catalog, app_panel_json
from runhub_codeocean.emulator.model import LIST_FOLDER_PARAMS, RUN_PARAMS, check
from runhub_codeocean.emulator.runs import Run, reported_assets, reported_parameters
from runhub_codeocean.emulator.seed import RESULT_FILES, Target, seed_assets, seed_targets
from runhub_codeocean.emulator.variance import readings

DEFAULT_TOKEN = "emulator-token"
API = "/api/v1/"
DOWNLOADS = "/emulator-downloads/"
_FATES = ("slow", "crash", "fail", "nonzero")


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message})


def _version_tuple(text: str) -> tuple[int, ...] | None:
    parts = text.strip().split(".")
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


class CodeOceanEmulator(Catalog):
    """The emulated deployment. ``created`` lists every computation id ever created."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        clock: Clock | None = None,
        server_version: str = "4.9.0",
        variance: bool | str | Iterable[str] | None = None,
    ) -> None:
        self.token = token
        self.clock = clock or Clock()
        self.server_version = server_version
        #: The documented readings switched on (:data:`.variance.VARIANCE`).
        self.variance = readings(variance)
        self.targets = seed_targets()
        self.releases = {t.release: t for t in self.targets.values()}
        self.assets = seed_assets()
        #: Result file -> size of every finished run (tests may add names).
        self.result_files = dict(RESULT_FILES)
        self.runs: dict[str, Run] = {}
        #: Every computation id ever created, in order (deleted ones included).
        self.created: list[str] = []
        #: ``(method, path)`` of every request answered (after auth).
        self.requests: list[tuple[str, str]] = []
        #: JSON bodies of the run requests accepted, in order.
        self.run_bodies: list[dict[str, Any]] = []
        #: ``User-Agent`` of every request answered (after auth), in order.
        self.user_agents: list[str | None] = []
        #: Statuses to answer the next run requests with *after* creating the run
        #: (a 500 from a server that did the work): ``app.after_create.append(500)``.
        self.after_create: list[int] = []
        self._epoch = time.time() - self.clock.now()
        self._lock = threading.RLock()
        self._expected = "Basic " + base64.b64encode(f"{token}:".encode()).decode()
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., httpx.Response]]] = [
            ("POST", re.compile(r"computations"), self._run),
            ("GET", re.compile(r"computations/([^/]+)"), self._get),
            ("PATCH", re.compile(r"computations/([^/]+)"), self._rename),
            ("DELETE", re.compile(r"computations/([^/]+)"), self._delete),
            ("POST", re.compile(r"computations/([^/]+)/results"), self._results),
            ("GET", re.compile(r"computations/([^/]+)/results/urls"), self._urls),
            ("GET", re.compile(r"(capsules|pipelines)/([^/]+)/computations"), self._list),
            ("GET", re.compile(r"(capsules|pipelines)/([^/]+)/app_panel"), self._app_panel),
        ]
        self._routes[:0] = self.catalog_routes()
        #: Data assets captured from computations (emulator/assets.py).
        self.captured = Assets(self)
        self._routes[:0] = self.captured.routes()  # before the catalog's data_assets/{id}

    # -- test helpers ------------------------------------------------------------------

    def epoch(self) -> int:
        """Emulated wall-clock time (epoch seconds), as ``created`` reports it."""
        return int(self._epoch + self.clock.now())

    def force(self, computation_id: str, **fields: Any) -> None:
        """Make a computation report these fields (e.g. ``state="queued"``); None removes."""
        with self._lock:
            self.runs[computation_id].forced.update(fields)

    def stop(self, computation_id: str) -> None:
        """What a user pressing Stop in the UI does: completed with end_status stopped."""
        self.force(computation_id, state="completed", end_status="stopped", exit_code=None)

    # -- dispatch ----------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request."""
        path = request.url.path
        if path.startswith(DOWNLOADS):
            return self._download(path[len(DOWNLOADS) :])
        if path.startswith(LOGS):
            return self.log_download(path[len(LOGS) :])
        if not path.startswith(API):
            return _error(404, f"no such endpoint: {path}")
        if request.headers.get("authorization") != self._expected:
            return _error(
                401, "Unauthorized: provide a valid access token as the basic auth user name"
            )
        wanted = request.headers.get("min-server-version")
        if wanted is not None:
            need, have = _version_tuple(wanted), _version_tuple(self.server_version)
            if need is None or have is None or need > have:
                return _error(
                    400, f"server version {self.server_version} does not satisfy {wanted}"
                )
        tail = path[len(API) :].rstrip("/")
        with self._lock:
            self.requests.append((request.method, tail))
            self.user_agents.append(request.headers.get("user-agent"))
            for method, pattern, handler in self._routes:
                match = pattern.fullmatch(tail)
                if match and method == request.method:
                    return handler(request, *match.groups())
            if any(p.fullmatch(tail) for _, p, _ in self._routes):
                return _error(405, f"{request.method} is not allowed on {tail}")
            return _error(404, f"no such endpoint: {tail}")

    def _body(self, request: httpx.Request) -> Any:
        try:
            return json.loads(request.content or b"null")
        except ValueError:
            return ValueError

    # -- computations ------------------------------------------------------------------

    def _run(self, request: httpx.Request) -> httpx.Response:
        body = self._body(request)
        if body is ValueError:
            return _error(400, "request body is not valid JSON")
        problem = check(body, RUN_PARAMS, "body")
        if problem:
            return _error(400, problem)
        target = self._target_of(body)
        if isinstance(target, httpx.Response):
            return target
        problem = self._check_run(body, target)
        if problem:
            return _error(400, problem)
        run = self._create(body, target)
        self.run_bodies.append(body)
        if self.after_create:
            status = self.after_create.pop(0)
            return _error(status, "internal error while starting the computation")
        return httpx.Response(200, json=run.to_json(self.clock.now()))

    def _target_of(self, body: dict[str, Any]) -> Target | httpx.Response:
        capsule, pipeline = body.get("capsule_id"), body.get("pipeline_id")
        if capsule and pipeline and "capsule-id-wins" in self.variance:
            pipeline = None
        if bool(capsule) == bool(pipeline):
            return _error(400, "either capsule_id or pipeline_id must be specified, but not both")
        kind = "capsule" if capsule else "pipeline"
        ident = str(capsule or pipeline)
        target: Target | None = self.targets.get(ident)
        as_capsule = kind == "capsule" and "pipeline-as-capsule" in self.variance
        if target is not None and target.kind != kind and not as_capsule:
            target = None
        if target is None:
            return _error(404, f"{kind} {ident} not found")
        return target

    def _check_run(self, body: dict[str, Any], target: Any) -> str | None:
        version = body.get("version")
        if version is not None and not 1 <= version <= target.versions:
            return f"version {version} of {target.id} does not exist (latest is {target.versions})"
        for item in body.get("data_assets") or []:
            if item["id"] not in self.assets:
                return f"data asset {item['id']} not found"
        if body.get("processes") and target.kind != "pipeline":
            return "processes are only valid for pipelines"
        if body.get("nextflow_profile") and target.kind != "pipeline":
            return "nextflow_profile is only valid for pipelines"
        problem = _check_params(body, target, "")
        if problem:
            return problem
        for process in body.get("processes") or []:
            step = target.processes.get(process["name"])
            if step is None:
                known = ", ".join(sorted(target.processes))
                return f"pipeline has no process {process['name']!r} (processes: {known})"
            problem = _check_params(process, step, f"process {process['name']}: ")
            if problem:
                return problem
        return None

    def _create(self, body: dict[str, Any], target: Any) -> Run:
        values = _all_values(body)
        fate = next((f for f in _FATES if f in values), "succeeded")
        defaults = {a.id: a.mount for a in self.assets.values()}
        assets = reported_assets(
            body.get("data_assets") or [],
            defaults,
            target,
            attached="attached-assets" in self.variance,
        )
        label_only = "label-only-parameters" in self.variance
        processes = None
        if target.kind == "pipeline":
            given = {p["name"]: p for p in body.get("processes") or []}
            processes = [
                {
                    "name": name,
                    "capsule_id": step.id,
                    "version": step.versions,
                    "public": False,
                    "parameters": reported_parameters(
                        given.get(name, {}), step, label_only=label_only
                    ),
                }
                for name, step in target.processes.items()
            ]
        run = Run(
            id=str(uuid.uuid4()),
            target=target,
            created=self.epoch(),
            started=self.clock.now(),
            name=f"Run {len(self.created) + 1}",
            fate=fate,
            data_assets=assets,
            parameters=reported_parameters(body, target, label_only=label_only),
            processes=processes,
            nextflow_profile=body.get("nextflow_profile"),
            version=body.get("version"),
            unknown_end="unknown-end-status" in self.variance,
        )
        self.runs[run.id] = run
        self.created.append(run.id)
        return run

    def _find(self, ident: str) -> Run | httpx.Response:
        run = self.runs.get(ident)
        return run if run is not None else _error(404, f"computation {ident} not found")

    def _get(self, request: httpx.Request, ident: str) -> httpx.Response:
        run = self._find(ident)
        if isinstance(run, httpx.Response):
            return run
        return httpx.Response(200, json=run.to_json(self.clock.now()))

    def _rename(self, request: httpx.Request, ident: str) -> httpx.Response:
        run = self._find(ident)
        if isinstance(run, httpx.Response):
            return run
        name = request.url.params.get("name")
        if not name:
            return _error(400, "name is required")
        run.name = name
        return httpx.Response(204)

    def _delete(self, request: httpx.Request, ident: str) -> httpx.Response:
        run = self._find(ident)
        if isinstance(run, httpx.Response):
            return run
        del self.runs[ident]
        return httpx.Response(204)

    def _lookup(self, route: str, ident: str) -> tuple[Target, bool] | httpx.Response:
        """The target ``route/ident`` names, and whether it is its release capsule."""
        target, release = self.targets.get(ident), False
        if target is None and ident in self.releases:
            target, release = self.releases[ident], True
        if target is None or f"{target.kind}s" != route:
            return _error(404, f"{route[:-1]} {ident} not found")
        return target, release

    def _list(self, request: httpx.Request, route: str, ident: str) -> httpx.Response:
        found = self._lookup(route, ident)
        if isinstance(found, httpx.Response):
            return found
        target, release = found
        apart = "release-listing" in self.variance
        now = self.clock.now()
        items = [
            r.to_json(now)
            for r in self.runs.values()
            if r.target is target
            and (r.version is not None if release else not (apart and r.version is not None))
        ]
        return httpx.Response(200, json=items)

    def _app_panel(self, request: httpx.Request, route: str, ident: str) -> httpx.Response:
        found = self._lookup(route, ident)
        if isinstance(found, httpx.Response):
            return found
        version = request.url.params.get("version")
        known = version is None or (version.isdigit() and 1 <= int(version) <= found[0].versions)
        if not known:
            return _error(404, f"version {version} of {ident} not found")
        return httpx.Response(200, json=app_panel_json(found[0], self.assets))

    # -- results -----------------------------------------------------------------------

    def _results(self, request: httpx.Request, ident: str) -> httpx.Response:
        run = self._find(ident)
        if isinstance(run, httpx.Response):
            return run
        body = self._body(request)
        problem = "request body is not valid JSON" if body is ValueError else None
        problem = problem or check(body, LIST_FOLDER_PARAMS, "body")
        if problem:
            return _error(400, problem)
        items = run.results(self.clock.now(), body["path"], self.result_files)
        if items is None:
            return _error(404, f"no result folder {body['path']!r}")
        return httpx.Response(200, json={"items": items})

    def _urls(self, request: httpx.Request, ident: str) -> httpx.Response:
        run = self._find(ident)
        if isinstance(run, httpx.Response):
            return run
        path = request.url.params.get("path", "")
        finished = run.results(self.clock.now(), "", self.result_files)
        if path not in self.result_files or not finished:
            return _error(404, f"no result file {path!r}")
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        signed = f"{origin}{DOWNLOADS}{ident}/{quote(path)}?X-Signature=emulated"
        return httpx.Response(200, json={"download_url": signed, "view_url": signed + "&view=1"})

    def _download(self, rest: str) -> httpx.Response:
        ident, _, quoted = rest.partition("/")
        path = unquote(quoted)
        with self._lock:
            run = self.runs.get(ident)
        if run is None or path not in self.result_files:
            return httpx.Response(404, text="NoSuchKey")
        return httpx.Response(200, content=b"x" * self.result_files[path])


def _check_params(body: dict[str, Any], target: Any, where: str) -> str | None:
    ordered = body.get("parameters") or []
    if len(ordered) > target.ordered:
        return f"{where}{target.name} takes {target.ordered} ordered parameters, got {len(ordered)}"
    for param in body.get("named_parameters") or []:
        if param["param_name"] not in target.named:
            known = ", ".join(sorted(target.named)) or "none"
            return f"{where}unknown parameter {param['param_name']!r} (parameters: {known})"
    return None


def _all_values(body: dict[str, Any]) -> set[str]:
    values = set(body.get("parameters") or [])
    values.update(p["value"] for p in body.get("named_parameters") or [])
    for process in body.get("processes") or []:
        values.update(process.get("parameters") or [])
        values.update(p["value"] for p in process.get("named_parameters") or [])
    return values
