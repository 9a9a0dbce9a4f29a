"""The Code Ocean backend: launch, track, cancel and list results of computations.

Every operation is a sans-IO exchange (see :mod:`runhub.backend`). The instance
remembers, for the computations it has seen launched, which capsule or pipeline
they belong to (so ``statuses`` asks once per capsule, not once per run), which
ids its launches returned (so an ambiguous launch never claims a run twice) and
which runs it cancelled (Code Ocean deletes them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from runhub.backend import (
    Backend,
    Capabilities,
    Exchange,
    Output,
    RunRef,
    request,
    response_json,
)
from runhub.detail import LogText, RunDetail
from runhub.errors import (
    AmbiguousLaunch,
    ConfigError,
    NotFound,
    NotYetListed,
    PlatformError,
    RunhubError,
)
from runhub.spec import RunSpec
from runhub.state import RunState, RunStatus
from runhub_codeocean import inspection
from runhub_codeocean._version import __version__
from runhub_codeocean.capture import CodeOceanCaptures, no_local_mounts
from runhub_codeocean.errors import ID, check_ref, computation, error_for
from runhub_codeocean.preflight import Preflight
from runhub_codeocean.recovery import look_for_run
from runhub_codeocean.results import result_urls, walk_results
from runhub_codeocean.settings import CodeOceanSettings, Endpoint
from runhub_codeocean.states import BACKEND, FINISHED, STATES, map_state, to_status
from runhub_codeocean.translate import Launch, translate

log = logging.getLogger("runhub.codeocean")


class CodeOceanBackend(Backend):
    """Runs Code Ocean capsules and pipelines (``POST /api/v1/computations``)."""

    name: ClassVar[str] = BACKEND
    version: ClassVar[str | None] = __version__
    settings_model: ClassVar[type[CodeOceanSettings]] = CodeOceanSettings
    capabilities: ClassVar[Capabilities] = Capabilities(
        detail=True,
        logs=("stdout",),  # one console log, stdout and stderr together
        remote_runs=True,
        cancel=True,
        cancel_is_destructive=True,
        outputs=True,
        download=True,
        ordered_parameters=True,
        named_parameters=True,
        processes=True,
        tags=False,
        version=True,
        outputs_path=False,
        batch_status=True,
        idempotent_launch=False,
        # No idempotency key: a computation created from a request sent just before
        # a crash may not be listed yet when the next process looks for it.
        launch_settle=5.0,
        capture=True,
    )
    states = STATES
    #: Seconds of clock difference tolerated when matching an ambiguous launch.
    clock_skew: ClassVar[float] = 60.0
    #: POSTs tried per launch when each one fails ambiguously and finds nothing.
    max_launch_attempts: ClassVar[int] = 3
    #: Result folders walked at most per ``outputs`` call (a guard, not a limit in practice).
    max_folders: ClassVar[int] = 10_000

    settings: CodeOceanSettings

    def __init__(self, settings: CodeOceanSettings) -> None:
        super().__init__(settings)
        self._endpoint: Endpoint | None = None
        #: computation id -> (route, capsule or pipeline id)
        self._owners: dict[str, tuple[str, str]] = {}
        self._claimed: set[str] = set()
        self._deleted: set[str] = set()
        #: Launch bodies whose POST is out and unanswered, by canonical JSON.
        self._sending: Counter[str] = Counter()
        #: Wall clock for launch attempts (Code Ocean's ``created`` is epoch seconds).
        self.now = time.time
        self._preflight = Preflight(self._req)

    # -- plumbing --------------------------------------------------------------------

    def endpoint(self) -> Endpoint:
        """The configured deployment (ConfigError naming the variables if not)."""
        if self._endpoint is None:
            self._endpoint = self.settings.endpoint()
        return self._endpoint

    def _req(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Request:
        ep = self.endpoint()
        merged = {**ep.headers, **headers} if headers else ep.headers
        return request(method, ep.base + path, headers=merged, **kwargs)

    def captures(self) -> CodeOceanCaptures:
        """Results captured as data assets (:mod:`runhub_codeocean.capture`)."""
        return CodeOceanCaptures(self)

    def secrets(self) -> list[str]:
        """The token and its Basic-encoded form, for redaction."""
        values = self.settings.secret_values()
        with contextlib.suppress(ConfigError):
            values.append(self.endpoint().credential)
        return values

    def remember(self, computation_id: str, route: str, target: str) -> None:
        """Record that a computation belongs to a capsule/pipeline (for batch status)."""
        self._owners[computation_id] = (route, target)

    def learn(self, ref: RunRef, spec: RunSpec) -> None:
        """Record ``ref`` as a run of ``spec`` (e.g. from a ledger in a new process), so
        ``statuses`` can ask its capsule's listing instead of one GET per run."""
        plan = translate(spec)
        self.remember(ref.id, plan.route, plan.target)

    # -- offline ---------------------------------------------------------------------

    def validate(self, spec: RunSpec) -> None:
        """Every check that needs no request: SpecError/Unsupported naming the field."""
        super().validate(spec)
        no_local_mounts(spec)
        translate(spec)

    def state_of(self, native: str | None) -> RunState:
        """Map native text as :attr:`RunStatus.native` holds it (``completed/stopped``)."""
        if not native:
            return RunState.UNKNOWN
        state, _, end_status = native.partition("/")
        return map_state(state, end_status or None, None)

    # -- launch ----------------------------------------------------------------------

    def launch(self, spec: RunSpec, key: str, *, batch: str | None = None) -> Exchange[RunStatus]:
        """POST the run, recover from an ambiguous failure, then rename it to ``spec.name``.

        ``key`` is not sent: Code Ocean has no idempotency key (see recovery).
        """
        plan = translate(spec)
        self.endpoint()  # configuration errors before any request
        return self._launch(plan, spec.name, batch)

    def _launch(self, plan: Launch, name: str | None, batch: str | None) -> Exchange[RunStatus]:
        same = _identity(plan)
        recovered = False
        attempt = 0
        data: dict[str, Any] | None = None
        while data is None:
            attempt += 1
            started = self.now()
            try:
                self._sending[same] += 1
                try:
                    response = yield self._req(
                        "POST",
                        "computations",
                        json_body=plan.body,
                        headers=plan.headers,
                        purpose=f"run {plan.kind}",
                    )
                finally:
                    self._sending[same] -= 1
            except AmbiguousLaunch as lost:
                # The run may exist (a dropped answer, 500/503...): look before any
                # second POST. UnsettledLaunch propagates when the looking cannot say.
                failed_at = self.now()
                found = yield from self._recover(plan, started, cause=lost.message)
                if found is None:
                    if attempt >= self.max_launch_attempts:
                        raise
                    unsettled = self.capabilities.launch_settle - (self.now() - failed_at)
                    if unsettled > 0:
                        # A request whose answer was lost may still be queued on the
                        # platform: an empty listing now proves nothing. The ledger
                        # looks again once it has settled (runhub.tracking).
                        raise NotYetListed(
                            f"{lost.message}; no run of {plan.kind} {plan.target} is listed"
                            " yet, and it is not sent again before the listing has settled"
                            f" ({self.capabilities.launch_settle:g} s)",
                            wait=unsettled,
                            method=lost.method,
                            url=lost.url,
                        ) from lost
                    log.warning(
                        "launch of %s %s: no run was created; launching again",
                        plan.kind,
                        plan.target,
                    )
                    continue
                data, recovered = found, True
            else:
                data = computation(response)
        return (yield from self._adopt(plan, data, name, batch, recovered=recovered))

    def recover(
        self, spec: RunSpec, key: str, *, since: float, claimed: frozenset[str] = frozenset()
    ) -> Exchange[RunStatus | None]:
        """After a crash (the ledger saw an attempt at ``since`` but no answer): the
        run that attempt created, found as in an ambiguous launch, or None."""
        plan = translate(spec)
        self.endpoint()
        return self._recover_run(plan, spec.name, since, claimed)

    def _recover_run(
        self, plan: Launch, name: str | None, since: float, claimed: frozenset[str]
    ) -> Exchange[RunStatus | None]:
        found = yield from self._recover(plan, since, claimed)
        if found is None:
            return None
        return (yield from self._adopt(plan, found, name, None, recovered=True))

    def _adopt(
        self,
        plan: Launch,
        data: dict[str, Any],
        name: str | None,
        batch: str | None,
        *,
        recovered: bool,
    ) -> Exchange[RunStatus]:
        """Claim the created computation, name it, and describe it."""
        ident = data.get("id")
        if not isinstance(ident, str) or not ID.fullmatch(ident):
            raise PlatformError(
                f"POST computations answered without a computation id: {data!r:.200}"
            )
        self._claimed.add(ident)
        self.remember(ident, plan.route, plan.target)
        # The ref's polling group is the capsule/pipeline: the ledger keeps it, so a
        # later process can poll these runs with one listing per capsule.
        ref = RunRef(BACKEND, ident, f"{plan.route}/{plan.target}")
        message = None
        if name and data.get("name") != name:
            try:
                yield self._req(
                    "PATCH",
                    f"computations/{ident}",
                    params={"name": name},
                    idempotent=True,
                    purpose="name the run",
                )
                data = {**data, "name": name}
            except RunhubError as exc:
                message = f"launched, but naming the run {name!r} failed: {exc}"
                log.warning("%s: %s", ref, message)
        status = to_status(data, ref, message)
        status.extra["target"] = f"{plan.route}/{plan.target}"
        if recovered:
            status.extra["recovered"] = True
        return status

    def _recover(
        self,
        plan: Launch,
        started: float,
        claimed: frozenset[str] = frozenset(),
        *,
        cause: str | None = None,
    ) -> Exchange[dict[str, Any] | None]:
        found = yield from look_for_run(
            self._req,
            plan,
            since=int(started - self.clock_skew),
            claimed=self._claimed | claimed if claimed else self._claimed,
            cause=cause,
            busy=self._sending[_identity(plan)] > 0,
        )
        if found is not None:
            log.warning(
                "launch of %s %s was interrupted; found its run %s",
                plan.kind,
                plan.target,
                found["id"],
            )
        return found

    # -- tracking --------------------------------------------------------------------

    def status(self, ref: RunRef) -> Exchange[RunStatus]:
        """``GET computations/{id}``."""
        check_ref(ref)
        self.endpoint()
        return self._status(ref)

    def _status(self, ref: RunRef) -> Exchange[RunStatus]:
        try:
            response = yield self._req("GET", f"computations/{ref.id}", purpose="run status")
        except NotFound:
            if ref.id in self._deleted:
                return self._cancelled(ref)
            raise
        return to_status(computation(response), ref)

    def _cancelled(self, ref: RunRef, current: RunStatus | None = None) -> RunStatus:
        return RunStatus(
            ref=ref,
            state=RunState.CANCELLED,
            native="deleted",
            message="stopped and deleted (cancelling a Code Ocean run deletes it)",
            created=current.created if current else None,
            name=current.name if current else None,
        )

    def statuses(self, refs: Sequence[RunRef]) -> Exchange[list[RunStatus]]:
        """One ``GET capsules|pipelines/{id}/computations`` per capsule; per-run GET
        only for refs whose capsule this backend has not seen, or that its listing
        lacks. A run Code Ocean no longer has (404) is CANCELLED, native ``deleted``,
        if runhub knew it (launched or learned here, or a ref carrying its capsule,
        as the ledger's do); an id it never knew stays NotFound."""
        for ref in refs:
            check_ref(ref)
        self.endpoint()
        return self._statuses(list(refs))

    def _statuses(self, refs: list[RunRef]) -> Exchange[list[RunStatus]]:
        for ref in refs:
            route, _, target = (ref.batch or "").partition("/")
            if route in ("capsules", "pipelines") and target and ref.id not in self._owners:
                self.remember(ref.id, route, target)
        owners = {self._owners[r.id] for r in refs if r.id in self._owners}
        seen: dict[str, dict[str, Any]] = {}
        for route, target in sorted(owners):
            try:
                response = yield self._req(
                    "GET", f"{route}/{target}/computations", purpose="status of runs"
                )
            except NotFound:
                continue  # the capsule went away; its runs are asked one by one
            listing = response_json(response)
            if isinstance(listing, list):
                for item in listing:
                    if isinstance(item, dict) and isinstance(item.get("id"), str):
                        seen[item["id"]] = item
        results = []
        for ref in refs:
            item = seen.get(ref.id)
            if item is not None:
                results.append(to_status(item, ref))
                continue
            try:
                results.append((yield from self._status(ref)))
            except NotFound:
                if ref.id not in self._owners:
                    raise  # an id runhub never saw launched: perhaps mistyped, say so
                # A run runhub knew, deleted elsewhere (a cancel in the UI deletes
                # too): it is over, and the others' statuses still count.
                results.append(self._gone(ref))
        return results

    def _gone(self, ref: RunRef) -> RunStatus:
        return RunStatus(
            ref=ref,
            state=RunState.CANCELLED,
            native="deleted",
            message="the computation no longer exists on Code Ocean (deleted)",
        )

    def cancel(self, ref: RunRef) -> Exchange[RunStatus]:
        """Stop the run with ``DELETE computations/{id}``, which also deletes it.

        A run that already ended is left alone (deleting it would only destroy results).
        """
        check_ref(ref)
        self.endpoint()
        return self._cancel(ref)

    def _cancel(self, ref: RunRef) -> Exchange[RunStatus]:
        current = yield from self._status(ref)
        raw_state = (current.native or "").partition("/")[0]
        if current.is_terminal or raw_state in FINISHED:
            return current
        with contextlib.suppress(NotFound):  # gone already: the outcome asked for
            yield self._req("DELETE", f"computations/{ref.id}", purpose="stop and delete run")
        self._deleted.add(ref.id)
        return self._cancelled(ref, current)

    # -- results ---------------------------------------------------------------------

    def outputs(self, ref: RunRef) -> Exchange[list[Output]]:
        """Every result file, walking ``POST computations/{id}/results`` folder by folder."""
        check_ref(ref)
        self.endpoint()
        return walk_results(self._req, ref, self.max_folders)

    def download_urls(self, ref: RunRef, outputs: Sequence[Output]) -> Exchange[list[Output]]:
        """Signed download URLs from ``GET computations/{id}/results/urls?path=``."""
        check_ref(ref)
        self.endpoint()
        return result_urls(self._req, ref, list(outputs))

    # -- pre-flight, detail, logs, the platform's runs (see preflight.py, inspection.py)

    def preflight(self, spec: RunSpec) -> Exchange[None]:
        """GET the capsule/pipeline and every data asset (cached); nothing is created."""
        plan = translate(spec)
        self.endpoint()
        return self._preflight.check(plan, plan.body.get("version"))

    def detail(self, ref: RunRef) -> Exchange[RunDetail]:
        """``GET computations/{id}`` as a RunDetail."""
        check_ref(ref)
        self.endpoint()
        return inspection.detail(self._req, ref)

    def logs(self, ref: RunRef, stream: str = "stdout") -> Exchange[LogText]:
        """The computation's ``output`` log (stdout and stderr together)."""
        check_ref(ref)
        self.endpoint()
        return inspection.logs(self._req, ref)

    def list_runs(
        self, *, target: str | None = None, limit: int = 100
    ) -> Exchange[list[RunStatus]]:
        """The computations of capsule or pipeline ``target``."""
        self.endpoint()
        return inspection.list_runs(self._req, target, limit)

    def close(self) -> None:
        """Forget cached pre-flight answers."""
        self._preflight.clear()

    # -- errors ----------------------------------------------------------------------

    def error_for(self, response: httpx.Response, context: str) -> PlatformError:
        """``{"message": ...}`` bodies become the error text; anything else a short excerpt."""
        return error_for(response, context)


def _identity(plan: Launch) -> str:
    """Launches with equal identities cannot be told apart by their runs."""
    return json.dumps([plan.kind, plan.body], sort_keys=True)
