"""A stateful in-memory ICA v2 REST API (the subset runhub uses).

``IcaEmulator().handle(request)`` answers like the real service: it checks auth,
media types (``Accept``/``Content-Type``) and every request body against the official
schema (400 ``application/problem+json`` when they do not hold), honours
``Idempotency-Key`` as the spec describes, and progresses analyses over emulated time.

Error codes: ``ICA_API_004`` (invalid Accept header) is the real service's code; the
others are the emulator's own (``ICA_EMU_*``), since ICA does not publish its codes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from runhub.testing.emulator import Clock
from runhub_ica.emulator import schema, seed
from runhub_ica.emulator.world import TERMINAL, AnalysisRec, World

V3 = "application/vnd.illumina.v3+json"
V4 = "application/vnd.illumina.v4+json"
JSON = "application/json"
PROBLEM = "application/problem+json"
ROOT = "/ica/rest"
MAX_PAGE_SIZE = 1000

_CREATE_KINDS = {
    "nextflow": ((V4, V3), "NEXTFLOW"),
    "nextflowWithCustomInput": ((V4,), "NEXTFLOW"),
    "cwlWithStructuredInput": ((V4,), "CWL"),
    "cwlWithJsonInput": ((V4,), "CWL"),
}


class Problem(Exception):
    """An error answer (RFC 7807 ``Problem``)."""

    def __init__(
        self, status: int, code: str, detail: str, parameters: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.parameters = parameters or {}


@dataclass
class Call:
    """What a handler gets: the request, its path groups, its user, its JSON body."""

    request: httpx.Request
    groups: dict[str, str]
    user: str
    body: Any


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[Call], httpx.Response]
    #: Accepted request media types (None: no body).
    consumes: tuple[str, ...] | None
    #: Media types the answer can be given in (None: 204, no body).
    produces: tuple[str, ...] | None
    body_model: str | None = None
    body_required: bool = True


class IcaEmulator:
    """The emulated ICA. ``analyses`` lists every analysis created, in order."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        api_keys: set[str] | None = None,
        check_responses: bool = True,
    ) -> None:
        self.clock = clock or Clock()
        self.world = World(self.clock)
        #: None accepts any non-empty credential; a set accepts only those.
        self.api_keys = api_keys
        self.check_responses = check_responses
        #: ``METHOD path`` of every request handled (tests count requests with it).
        self.log: list[str] = []
        #: The body of every create request that made an analysis, in order.
        self.created: list[dict[str, Any]] = []
        self._idem: dict[tuple[str, str, str], tuple[str, Any, httpx.Response | None]] = {}
        self._lock = threading.RLock()
        self._routes = self._make_routes()

    @property
    def analyses(self) -> list[AnalysisRec]:
        """Every analysis created, oldest first."""
        return list(self.world.analyses.values())

    # -- entry point -------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request."""
        path = request.url.path
        with self._lock:
            self.log.append(f"{request.method} {path}")
        try:
            if not path.startswith(ROOT + "/"):
                raise Problem(404, "ICA_EMU_NOT_FOUND", f"no such endpoint: {path}")
            route, groups = self._route(request.method, path[len(ROOT) :])
            user = self._authenticate(request)
            response_type = self._negotiate(request, route)
            body = self._body(request, route)
            call = Call(request, groups, user, body)
            key = request.headers.get("Idempotency-Key")
            if key is not None:
                response = self._idempotent(call, route, key)
            else:
                response = self._run(route, call)
            if response_type and response.status_code < 300 and response.content:
                response.headers["Content-Type"] = response_type
            return response
        except Problem as problem:
            return self._problem(request, problem)

    def _run(self, route: Route, call: Call) -> httpx.Response:
        with self._lock:
            return route.handler(call)

    # -- request checks ------------------------------------------------------------------

    def _route(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        allowed = []
        for route in self._routes:
            match = route.pattern.fullmatch(path)
            if match:
                if route.method == method:
                    return route, match.groupdict()
                allowed.append(route.method)
        if allowed:
            raise Problem(
                405, "ICA_EMU_METHOD", f"{method} is not allowed here ({', '.join(allowed)})"
            )
        raise Problem(404, "ICA_EMU_NOT_FOUND", f"no such endpoint: {path}")

    def _authenticate(self, request: httpx.Request) -> str:
        key = request.headers.get("X-API-Key", "")
        auth = request.headers.get("Authorization", "")
        credential = key or (auth[7:] if auth.lower().startswith("bearer ") else "")
        if not credential:
            raise Problem(401, "ICA_EMU_UNAUTHENTICATED", "No X-API-Key or Bearer token given")
        if self.api_keys is not None and credential not in self.api_keys:
            raise Problem(401, "ICA_EMU_UNAUTHENTICATED", "The API key or token is not valid")
        return hashlib.sha256(credential.encode()).hexdigest()[:16]

    def _negotiate(self, request: httpx.Request, route: Route) -> str | None:
        accept = request.headers.get("Accept", "")
        wanted = [part.split(";")[0].strip() for part in accept.split(",") if part.strip()]
        produces = route.produces or (V3,)
        chosen = next((w for w in wanted if w in produces), None)
        if chosen is None:
            raise Problem(400, "ICA_API_004", "Invalid Accept Header")
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if route.consumes is not None and (content_type or request.content):
            if content_type not in route.consumes:
                raise Problem(
                    415,
                    "ICA_EMU_MEDIA_TYPE",
                    f"Content-Type {content_type or '(none)'} is not supported here; "
                    f"use {' or '.join(route.consumes)}",
                )
            if (
                "illumina" in content_type
                and "illumina" in chosen
                and content_type[:27] != chosen[:27]
            ):
                raise Problem(
                    400, "ICA_API_004", "Content-Type and Accept must carry the same version"
                )
        if route.consumes is None and content_type and content_type not in (V3, V4, JSON):
            raise Problem(
                415, "ICA_EMU_MEDIA_TYPE", f"Content-Type {content_type} is not supported"
            )
        return chosen if route.produces else None

    def _body(self, request: httpx.Request, route: Route) -> Any:
        if route.consumes is None:
            return None
        if not request.content:
            if route.body_required:
                raise Problem(400, "ICA_EMU_VALIDATION", "A request body is required")
            return {}
        try:
            body = json.loads(request.content)
        except ValueError:
            raise Problem(400, "ICA_EMU_VALIDATION", "The request body is not valid JSON") from None
        if route.body_model is not None:
            found = schema.problems(schema.REQUESTS[route.body_model], body)
            if found:
                first = next(iter(found.items()))
                raise Problem(
                    400,
                    "ICA_EMU_VALIDATION",
                    f"The request body does not match the schema: {first[0]}: {first[1]}",
                    found,
                )
        return body

    # -- idempotency (spec: stored < 400 answers replayed for 7 days) ---------------------

    def _idempotent(self, call: Call, route: Route, key: str) -> httpx.Response:
        if len(key) > 255:
            raise Problem(
                400,
                "ICA_EMU_VALIDATION",
                "Idempotency-Key is longer than 255 characters",
                {"Idempotency-Key": "maxLength 255"},
            )
        slot = (call.request.url.path, key, call.user)
        fingerprint = json.dumps(call.body, sort_keys=True)
        with self._lock:
            stored = self._idem.get(slot)
            if stored is not None:
                state, stored_print, response = stored
                if state == "in-flight" or response is None:
                    raise Problem(
                        409,
                        "ICA_EMU_IDEMPOTENCY_IN_FLIGHT",
                        "A request with this Idempotency-Key is still being processed",
                    )
                if stored_print != fingerprint:
                    raise Problem(
                        422,
                        "ICA_EMU_IDEMPOTENCY_MISMATCH",
                        "This Idempotency-Key was used with a different request body",
                    )
                return _copy(response)
            self.begin_in_flight(call.request.url.path, key, call.user, fingerprint)
        try:
            response = self._run(route, call)
        except BaseException:
            with self._lock:
                self._idem.pop(slot, None)  # errors are not stored: the key may be retried
            raise
        with self._lock:
            if response.status_code < 400:
                self._idem[slot] = ("done", fingerprint, _copy(response))
            else:
                self._idem.pop(slot, None)
        return response

    def begin_in_flight(self, path: str, key: str, user: str, fingerprint: str) -> None:
        """Mark a key as in flight (tests use it to provoke the 409)."""
        with self._lock:
            self._idem[(path, key, user)] = ("in-flight", fingerprint, None)

    @staticmethod
    def user_of(credential: str) -> str:
        """The idempotency user for a credential (for :meth:`begin_in_flight`)."""
        return hashlib.sha256(credential.encode()).hexdigest()[:16]

    # -- answers -------------------------------------------------------------------------

    def _json(self, status: int, name: str, body: Any) -> httpx.Response:
        if self.check_responses:
            found = schema.response_problems(name, body)
            if found:
                first = next(iter(found.items()))
                raise Problem(
                    500,
                    "ICA_EMU_BUG",
                    f"emulator answer breaks the {name} schema: {first[0]}: {first[1]}",
                )
        return httpx.Response(
            status, content=json.dumps(body).encode(), headers={"Content-Type": JSON}
        )

    def _problem(self, request: httpx.Request, problem: Problem) -> httpx.Response:
        body = {
            "id": str(uuid.uuid4()),
            "type": "about:blank",
            "title": problem.code,
            "status": problem.status,
            "detail": problem.detail,
            "instance": str(request.url),
            "parameters": problem.parameters,
            "timestamp": self.world.stamp(self.clock.now()),
            "method": request.method,
        }
        return httpx.Response(
            problem.status, content=json.dumps(body).encode(), headers={"Content-Type": PROBLEM}
        )

    # -- routes --------------------------------------------------------------------------

    def _make_routes(self) -> list[Route]:
        p = r"/api/projects/(?P<project>[^/:]+)"
        a = p + r"/analyses/(?P<analysis>[^/:]+)"

        def route(
            method: str,
            pattern: str,
            handler: Callable[[Call], httpx.Response],
            consumes: tuple[str, ...] | None,
            produces: tuple[str, ...] | None,
            model: str | None = None,
            required: bool = True,
        ) -> Route:
            return Route(method, re.compile(pattern), handler, consumes, produces, model, required)

        routes = [
            route("GET", r"/api/projects", self._projects, None, (V3,)),
            route("GET", p + r"/pipelines", self._pipelines, None, (V3,)),
            route(
                "GET",
                p + r"/pipelines/(?P<pipeline>[^/]+)/inputParameters",
                self._inputs,
                None,
                (V3,),
            ),
            route("GET", p + r"/analysisStorages", self._storages, None, (V4,)),
            route(
                "POST",
                r"/api/activationCodes:findBestMatchingForNextflow",
                self._activation,
                (V3, JSON),
                (V3,),
                "activationCodes:findBestMatchingForNextflow",
            ),
            route("GET", p + r"/data", self._data, None, (V3,)),
            route(
                "POST",
                p + r"/data:createDownloadUrls",
                self._download_urls,
                (V3,),
                (V3,),
                "data:createDownloadUrls",
            ),
            route(
                "POST",
                p + r"/analysis:search",
                self._search,
                (V3, JSON),
                (V3,),
                "analysis:search",
                required=False,
            ),
            route("GET", a, self._analysis, None, (V4,)),
            route("POST", a + r":abort", self._abort, (V3, V4, JSON), None, required=False),
            route("GET", a + r"/outputs", self._outputs, None, (V3,)),
        ]
        for kind, (media, _) in _CREATE_KINDS.items():
            # The emulator answers creates in v4 only (v3 create answers broke clients).
            routes.append(
                route(
                    "POST",
                    p + rf"/analysis:{kind}",
                    self._creator(kind),
                    media,
                    (V4,),
                    f"analysis:{kind}",
                )
            )
        return routes

    def _project(self, call: Call) -> str:
        project = call.groups["project"]
        if project not in self.world.projects:
            raise Problem(404, "ICA_EMU_NOT_FOUND", f"Project {project} not found")
        return project

    def _projects(self, call: Call) -> httpx.Response:
        search = call.request.url.params.get("search", "").lower()
        stamp = self.world.stamp(0)
        base = {
            "timeCreated": stamp,
            "timeModified": stamp,
            "ownerId": seed.OWNER_ID,
            "tenantId": seed.TENANT_ID,
        }
        country = {
            "id": "c0c0c0c0-0000-4000-8000-0000000000c1",
            **base,
            "code": "US",
            "name": "United States",
            "region": "us-east-1",
        }
        region = {
            "id": seed.REGION_ID,
            **base,
            "code": "US",
            "country": country,
            "cityName": "Virginia",
        }
        items = [
            {
                "id": ident,
                **base,
                "tenantName": seed.TENANT_NAME,
                "name": name,
                "active": True,
                "billingMode": "PROJECT",
                "region": region,
                "tags": {"technicalTags": [], "userTags": []},
            }
            for ident, name in self.world.projects.items()
            if not search or search in name.lower()
        ]
        return self._json(200, "projects", {"items": items, "totalItemCount": len(items)})

    def _pipelines(self, call: Call) -> httpx.Response:
        project = self._project(call)
        items = [
            {
                "pipeline": self.world.pipeline_v3(p),
                "projectId": project,
                "bundleLinks": {"items": []},
            }
            for p in self.world.pipelines.values()
        ]
        return self._json(200, "pipelines", {"items": items})

    def _pipeline(self, project: str, ident: str) -> seed.Pipeline:
        pipeline = self.world.pipelines.get(ident)
        if pipeline is None:
            raise Problem(
                404, "ICA_EMU_NOT_FOUND", f"Pipeline {ident} not found in project {project}"
            )
        return pipeline

    def _inputs(self, call: Call) -> httpx.Response:
        project = self._project(call)
        pipeline = self._pipeline(project, call.groups["pipeline"])
        items = [
            {"id": ident, "code": code, "required": required, "multiValue": multi}
            for ident, (code, required, multi) in zip(
                pipeline.input_ids, pipeline.inputs, strict=True
            )
        ]
        return self._json(200, "inputParameters", {"items": items})

    def _storages(self, call: Call) -> httpx.Response:
        self._project(call)
        items = [
            {"id": ident, "name": name, "description": f"{name} analysis storage"}
            for name, ident in seed.STORAGES.items()
        ]
        return self._json(200, "analysisStorages", {"items": items})

    def _activation(self, call: Call) -> httpx.Response:
        body = call.body
        if body["projectId"] not in self.world.projects:
            raise Problem(404, "ICA_EMU_NOT_FOUND", f"Project {body['projectId']} not found")
        pipeline = self._pipeline(body["projectId"], body["pipelineId"])
        answer = {
            "id": seed.ACTIVATION_CODE_ID,
            "allowedSlots": -1,
            "usedSlots": 0,
            "movedSlots": 0,
            "originalSlots": -1,
            "usages": [],
            "pipelineBundle": {
                "id": "4d3c2b1a-0000-4000-8000-00000000b001",
                "name": "Emulated bundle",
                "maxNumberOfAllowedSlots": -1,
                "activePipelines": [self.world.pipeline_v3(pipeline)],
                "canceledPipelines": [],
                "retiredPipelines": [],
                "regions": [],
                "analysisStorages": [self.world.storage_v3("Small")],
            },
        }
        return self._json(200, "activationCodes:findBestMatchingForNextflow", answer)

    def _data(self, call: Call) -> httpx.Response:
        project = self._project(call)
        params = call.request.url.params
        paths = params.get_list("filePath")
        mode = params.get("filePathMatchMode", "STARTS_WITH_CASE_INSENSITIVE")
        if mode not in ("STARTS_WITH_CASE_INSENSITIVE", "FULL_CASE_INSENSITIVE"):
            raise Problem(
                400,
                "ICA_EMU_VALIDATION",
                f"filePathMatchMode {mode} is not valid",
                {"filePathMatchMode": "STARTS_WITH_CASE_INSENSITIVE|FULL_CASE_INSENSITIVE"},
            )
        kind = params.get("type")
        wanted = [p.lower() for p in paths]
        items = []
        for rec in self.world.data.values():
            if rec.project != project:
                continue
            path = rec.path.lower()
            if wanted and not any(
                path == w if mode == "FULL_CASE_INSENSITIVE" else path.startswith(w) for w in wanted
            ):
                continue
            if kind and kind != ("FOLDER" if rec.folder else "FILE"):
                continue
            items.append(self.world.data_body(rec))
        return self._json(
            200, "data", {"items": items, "nextPageToken": "", "totalItemCount": len(items)}
        )

    def _download_urls(self, call: Call) -> httpx.Response:
        project = self._project(call)
        body = call.body
        wanted = [("id", i) for i in body.get("dataIds") or []]
        wanted += [("path", p) for p in body.get("dataPaths") or []]
        by_path = {r.path: r for r in self.world.data.values() if r.project == project}
        items = []
        for how, value in wanted:
            rec = self.world.data.get(value) if how == "id" else by_path.get(value)
            if rec is None or rec.project != project:
                raise Problem(404, "ICA_EMU_NOT_FOUND", f"Data {value} not found in project")
            if rec.folder:
                raise Problem(
                    400, "ICA_EMU_VALIDATION", f"{value} is a folder; only files have URLs"
                )
            items.append(
                {
                    "dataId": rec.id,
                    "dataUrn": f"urn:ilmn:ica:region:{seed.REGION_ID}:data:{rec.id}",
                    "dataPath": rec.path,
                    "url": f"https://ica-emulator.invalid/download/{rec.id}?X-Amz-Signature=emulated",
                }
            )
        return self._json(200, "data:createDownloadUrls", {"items": items})

    # -- analyses ------------------------------------------------------------------------

    def _creator(self, kind: str) -> Callable[[Call], httpx.Response]:
        def create(call: Call) -> httpx.Response:
            return self._create(call, kind)

        return create

    def _create(self, call: Call, kind: str) -> httpx.Response:
        project = self._project(call)
        body = call.body
        pipeline = self._pipeline(project, body["pipelineId"])
        language = _CREATE_KINDS[kind][1]
        if pipeline.language != language:
            raise Problem(
                400,
                "ICA_EMU_PIPELINE_LANGUAGE",
                f"Pipeline {pipeline.code} is a {pipeline.language} pipeline; "
                f"analysis:{kind} needs a {language} pipeline",
            )
        storage = pipeline.storage
        if body.get("analysisStorageId"):
            storage = self.world.storage_names.get(body["analysisStorageId"], "")
            if not storage:
                raise Problem(
                    400,
                    "ICA_EMU_VALIDATION",
                    f"Analysis storage {body['analysisStorageId']} does not exist",
                    {"analysisStorageId": "unknown analysis storage"},
                )
        analysis_input = body["analysisInput"]
        values = self._check_inputs(pipeline, analysis_input)
        tags = body.get("tags") or {}
        target = None
        for mapping in body.get("analysisOutput") or []:
            target = (
                mapping["targetPath"]
                if mapping["targetPath"].endswith("/")
                else mapping["targetPath"] + "/"
            )
        rec = self.world.new_analysis(
            project,
            body["userReference"],
            pipeline,
            storage,
            {k: list(tags.get(k) or []) for k in ("technicalTags", "userTags", "referenceTags")},
            fail=seed.FAIL_VALUE in values,
            slow=seed.SLOW_VALUE in values,
            output_target=target,
        )
        self.created.append(body)
        return self._json(201, "create", self.world.analysis_v4(rec))

    def _check_inputs(self, pipeline: seed.Pipeline, analysis_input: dict[str, Any]) -> set[str]:
        """Data ids must exist, parameterCodes must be the pipeline's; returns all values."""
        codes = [c for c, _, _ in pipeline.inputs]
        values: set[str] = set()
        ids: list[str] = list(analysis_input.get("dataIds") or [])
        ids += [m["dataId"] for m in analysis_input.get("mounts") or []]
        for entry in analysis_input.get("inputs") or []:
            if entry["parameterCode"] not in codes:
                raise Problem(
                    400,
                    "ICA_EMU_INPUT",
                    f"Unknown input parameter code "
                    f"{entry['parameterCode']!r}; the pipeline has: {', '.join(codes)}",
                    {"parameterCode": entry["parameterCode"]},
                )
            ids += entry.get("dataIds") or []
            ids += [m["dataId"] for m in entry.get("mounts") or []]
        for ident in ids:
            if ident not in self.world.data:
                raise Problem(
                    400, "ICA_EMU_INPUT", f"Data {ident} does not exist", {"dataId": ident}
                )
        for param in analysis_input.get("parameters") or []:
            values.update([param.get("value") or "", *(param.get("multiValue") or [])])
        for key in ("customInput", "inputJson"):
            if key in analysis_input:
                values.update(_strings(_loads(analysis_input[key], key)))
        return values

    def _find(self, call: Call) -> AnalysisRec:
        project = self._project(call)
        rec = self.world.analyses.get(call.groups["analysis"])
        if rec is None or rec.project != project:
            raise Problem(
                404,
                "ICA_EMU_NOT_FOUND",
                f"Analysis {call.groups['analysis']} not found in project {project}",
            )
        return rec

    def _analysis(self, call: Call) -> httpx.Response:
        return self._json(200, "analysis", self.world.analysis_v4(self._find(call)))

    def _abort(self, call: Call) -> httpx.Response:
        rec = self._find(call)
        status, _, _ = self.world.status_at(rec, self.clock.now())
        if status not in TERMINAL and rec.aborted_at is None:
            rec.aborted_at = self.clock.now()
        return httpx.Response(204)

    def _outputs(self, call: Call) -> httpx.Response:
        return self._json(200, "outputs", self.world.outputs_body(self._find(call)))

    def _search(self, call: Call) -> httpx.Response:
        project = self._project(call)
        params = call.request.url.params
        size_text = params.get("pageSize", "100")
        if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PAGE_SIZE:
            raise Problem(
                400,
                "ICA_EMU_VALIDATION",
                f"pageSize must be a number from 1 to {MAX_PAGE_SIZE}",
                {"pageSize": size_text},
            )
        size = int(size_text)
        offset = _cursor(params.get("pageToken"))
        query = call.body or {}
        matches = [
            rec
            for rec in self.world.analyses.values()
            if rec.project == project and self._matches(rec, query)
        ]
        page = matches[offset : offset + size]
        rest = len(matches) - offset - len(page)
        token = (
            base64.urlsafe_b64encode(f"cursor:{offset + size}".encode()).decode()
            if rest > 0
            else None
        )
        body: dict[str, Any] = {
            "items": [self.world.analysis_v4(r) for r in page],
            "remainingRecords": max(rest, 0),
        }
        if token:
            body["nextPageToken"] = token
        return self._json(200, "analysis:search", body)

    def _matches(self, rec: AnalysisRec, query: dict[str, Any]) -> bool:
        for field, attr in (
            ("technicalTags", "technicalTags"),
            ("userTags", "userTags"),
            ("referenceTags", "referenceTags"),
        ):
            wanted = query.get(field)
            if wanted and not set(wanted) & set(rec.tags.get(attr, [])):
                return False
        if query.get("userReference") and query["userReference"] != rec.user_reference:
            return False
        if query.get("reference") and query["reference"] != rec.reference:
            return False
        if query.get("status"):
            status, _, _ = self.world.status_at(rec, self.clock.now())
            if status not in query["status"]:
                return False
        return True


def _cursor(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        return int(text.removeprefix("cursor:"))
    except ValueError:
        raise Problem(
            400, "ICA_EMU_VALIDATION", "pageToken is not valid", {"pageToken": token}
        ) from None


def _loads(text: str, field: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise Problem(
            400,
            "ICA_EMU_VALIDATION",
            f"{field} is not valid JSON",
            {f"analysisInput.{field}": "escaped JSON expected"},
        ) from None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _copy(response: httpx.Response) -> httpx.Response:
    return httpx.Response(response.status_code, headers=response.headers, content=response.content)
