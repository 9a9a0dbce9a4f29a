"""A stateful in-memory ICA v2 REST API (the subset runhub uses).

``IcaEmulator().handle(request)`` answers like the real service: it checks auth,
media types (``Accept``/``Content-Type``) and every request body against the official
schema (400 ``application/problem+json`` when they do not hold), honours
``Idempotency-Key`` as the spec describes, and progresses analyses over emulated time.

Error codes: ``ICA_API_004`` (invalid Accept header) is the real service's code; the
others are the emulator's own (``ICA_EMU_*``), since ICA does not publish its codes.

``variance`` (:class:`~runhub_ica.emulator.variance.Variance`) switches on readings
of the platform the spec allows but does not promise; tests prove runhub under each.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from runhub.testing.emulator import Clock, DroppedConnection
from runhub_ica.emulator import schema, seed
from runhub_ica.emulator.catalog import DOWNLOAD_ROOT
from runhub_ica.emulator.creationbatch import CreationBatches
from runhub_ica.emulator.endpoints import Endpoints
from runhub_ica.emulator.inspection import LOGS, Inspection
from runhub_ica.emulator.notify import Notifier
from runhub_ica.emulator.protocol import (
    CREATE_KINDS,
    JSON,
    PROBLEM,
    ROOT,
    V3,
    V4,
    Call,
    Problem,
    Route,
)
from runhub_ica.emulator.tokens import Tokens
from runhub_ica.emulator.uploads import UPLOADS, Uploads
from runhub_ica.emulator.variance import Variance
from runhub_ica.emulator.world import AnalysisRec, World

#: Statuses the emulator may answer to ``POST /api/tokens`` to refuse token creation.
REFUSALS = frozenset({401, 403, 404, 405, 501})


class IcaEmulator(Endpoints, Inspection):
    """The emulated ICA. ``analyses`` lists every analysis created, in order."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        api_keys: set[str] | None = None,
        check_responses: bool = True,
        variance: Variance | bool = False,
        token_seconds: float = 3600.0,
        refuse_tokens: int | None = None,
    ) -> None:
        self.clock = clock or Clock()
        self.world = World(self.clock)
        #: Upload URLs, temporary credentials, data status and tags (uploads.py).
        self.uploads = Uploads(self)
        #: Notification channels, subscriptions and deliveries (notify.py).
        self.notifier = Notifier(self)
        #: None accepts any non-empty credential; a set accepts only those.
        self.api_keys = api_keys
        self.check_responses = check_responses
        if isinstance(variance, bool):
            variance = Variance.documented() if variance else Variance()
        self.variance = variance
        self.tokens = Tokens(token_seconds)
        if refuse_tokens is not None and refuse_tokens not in REFUSALS:
            raise ValueError(f"refuse_tokens must be one of {sorted(REFUSALS)}")
        #: Answer ``POST /api/tokens`` with this status (token creation refused).
        self.refuse_tokens = refuse_tokens
        #: Requests by how they authenticated: ``api-key``, ``jwt`` (ours), ``bearer``.
        self.auth: Counter[str] = Counter()
        self._secret = secrets.token_bytes(16)
        #: ``METHOD path`` of every request handled (tests count requests with it).
        self.log: list[str] = []
        #: The body of every create request that made an analysis, in order.
        self.created: list[dict[str, Any]] = []
        #: (path, key, user) -> [state, body fingerprint, answer, 409s still to give]
        self._idem: dict[tuple[str, str, str], list[Any]] = {}
        self._lock = threading.RLock()
        #: ``analysisCreationBatch`` (creationbatch.py): its delays, limit and faults.
        self.batches = CreationBatches(self)
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
            self.batches.advance()  # ICA creates batches' analyses in the background
        if path.startswith(LOGS):  # pre-signed: no credentials
            return self.log_download(path[len(LOGS) :])
        if path.startswith(UPLOADS):  # pre-signed upload URLs
            return self.uploads.serve(request)
        if path.startswith(DOWNLOAD_ROOT) and request.method in ("GET", "HEAD"):
            with self._lock:
                return self.download(request)
        try:
            if not path.startswith(ROOT + "/"):
                raise Problem(404, "ICA_EMU_NOT_FOUND", f"no such endpoint: {path}")
            route, groups = self._route(request.method, path[len(ROOT) :])
            user = self._authenticate(request, minting=route.handler == self._token)
            response_type = self._negotiate(request, route)
            body = self._body(request, route)
            call = Call(request, groups, user, body, response_type)
            key = request.headers.get("Idempotency-Key")
            if key is not None:
                response = self._idempotent(call, route, key)
            else:
                response = self._run(route, call)
            if response_type and response.status_code < 300 and response.content:
                response.headers["Content-Type"] = response_type
            if route.handler == self.batches.create and response.status_code == 201:
                with self._lock:
                    if self.batches.should_drop():  # accepted and stored, answer lost
                        raise DroppedConnection("creation batch answer dropped")
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

    def _authenticate(self, request: httpx.Request, *, minting: bool = False) -> str:
        """The user a request is made by. ``minting``: ``POST /api/tokens``, whose
        security is ApiKeyAuth | BasicAuth | PsTokenAuth (not a JWT)."""
        key = request.headers.get("X-API-Key", "")
        auth = request.headers.get("Authorization", "")
        bearer = auth[7:] if auth.lower().startswith("bearer ") else ""
        if key:
            if self.api_keys is not None and key not in self.api_keys:
                raise Problem(401, "ICA_EMU_UNAUTHENTICATED", "The API key is not valid")
            with self._lock:
                self.auth["api-key"] += 1
            return self.user_of(key)
        if not bearer:
            raise Problem(401, "ICA_EMU_UNAUTHENTICATED", "No X-API-Key or Bearer token given")
        try:
            user = self.tokens.user_of(bearer)
        except ValueError as bad:
            raise Problem(401, "ICA_EMU_UNAUTHENTICATED", str(bad)) from None
        if minting and user is not None:
            raise Problem(401, "ICA_EMU_UNAUTHENTICATED", "A JWT cannot be used to create a JWT")
        if user is None:  # an opaque token (ICAV2_ACCESS_TOKEN), not one of ours
            if self.api_keys is not None and bearer not in self.api_keys:
                raise Problem(401, "ICA_EMU_UNAUTHENTICATED", "The token is not valid")
            user = self.user_of(bearer)
        with self._lock:
            self.auth["jwt" if user != self.user_of(bearer) else "bearer"] += 1
        return user

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
                state, stored_print, response, conflicts = stored
                if stored_print is not None and stored_print != fingerprint:
                    raise Problem(
                        422,
                        "ICA_EMU_IDEMPOTENCY_MISMATCH",
                        "This Idempotency-Key was used with a different request body",
                    )
                if state == "in-flight" or response is None or conflicts > 0:
                    if conflicts > 0:
                        stored[3] = conflicts - 1
                    raise Problem(
                        409,
                        "ICA_EMU_IDEMPOTENCY_IN_FLIGHT",
                        "A request with this Idempotency-Key is still being processed",
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
                conflicts = self.variance.in_flight_conflicts
                self._idem[slot] = ["done", fingerprint, _copy(response), conflicts]
            else:
                self._idem.pop(slot, None)
        return response

    def forget_idempotency(self) -> None:
        """Drop every stored answer, as if ICA's 7-day window had passed."""
        with self._lock:
            self._idem.clear()

    def begin_in_flight(
        self, path: str, key: str, user: str, fingerprint: str | None = None
    ) -> None:
        """Mark a key as in flight (tests use it to provoke the 409); ``fingerprint``
        None stands for whatever body the next request with the key has."""
        with self._lock:
            self._idem[(path, key, user)] = ["in-flight", fingerprint, None, 0]

    @staticmethod
    def user_of(credential: str) -> str:
        """The idempotency user for a credential (for :meth:`begin_in_flight`)."""
        return hashlib.sha256(credential.encode()).hexdigest()[:16]

    # -- tokens (spec: createJwtToken) ---------------------------------------------------

    def _token(self, call: Call) -> httpx.Response:
        if self.refuse_tokens is not None:
            raise Problem(
                self.refuse_tokens,
                "ICA_EMU_TOKENS_REFUSED",
                "Token creation is not available here; use the API key",
            )
        token = self.tokens.mint(call.user, seed.TENANT_NAME)
        return self._json(200, "token", {"token": token})

    # -- answers -------------------------------------------------------------------------

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
            *self.uploads.routes(),  # before GET data/{id}: theirs carry status and tags
            *self.notifier.routes(),
            route("POST", r"/api/tokens", self._token, None, (V3,)),
            route("GET", r"/api/projects", self._projects, None, (V3,)),
            route("GET", p + r"/pipelines", self._pipelines, None, (V3,)),
            route("GET", p + r"/pipelines/(?P<pipeline>[^/]+)", self._pipeline_one, None, (V4, V3)),
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
            route("GET", p + r"/data/(?P<data>[^/:]+)", self._data_one, None, (V3,)),
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
            route("GET", a, self._analysis, None, (V4, V3)),
            route("POST", a + r":abort", self._abort, (V3, V4, JSON), None, required=False),
            route("GET", a + r"/outputs", self._outputs, None, (V3,)),
            *self.inspection_routes(route, a, p),
            *self.batches.routes(route, p),
        ]
        for kind, (consumes, produces, _, _) in CREATE_KINDS.items():
            routes.append(
                route(
                    "POST",
                    p + rf"/analysis:{kind}",
                    self._creator(kind),
                    consumes,
                    produces,
                    f"analysis:{kind}",
                )
            )
        return routes


def _copy(response: httpx.Response) -> httpx.Response:
    return httpx.Response(response.status_code, headers=response.headers, content=response.content)
