"""The WES backend: launch, track, cancel, and list results of runs on a GA4GH WES 1.1 server.

Every operation is a sans-IO exchange (see :mod:`runhub.backend`). The instance
remembers which run ids it has seen exist (launched, or read through their run log):
a run id it has not seen is first asked for its ``RunLog``, because wes-service
answers ``GET /runs/{id}/status`` with 200 RUNNING for ids it never issued
(anchors.md §1.4), while the run log of such an id is an error. It also remembers the
ids it launched, so a recovery never claims a run twice.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx

from runhub.backend import Backend, Capabilities, Exchange, Output, RunRef, request, response_json
from runhub.detail import LogText, RunDetail
from runhub.errors import (
    AmbiguousLaunch,
    AuthError,
    ConfigError,
    NotFound,
    PlatformError,
    Unsupported,
)
from runhub.spec import RunSpec
from runhub.state import RunState, RunStatus
from runhub_wes._version import __version__
from runhub_wes.errors import error_for
from runhub_wes.listing import list_runs
from runhub_wes.logs import RunLogs, read_logs
from runhub_wes.outputs import parse_outputs
from runhub_wes.recovery import Search, find_by_key
from runhub_wes.serviceinfo import ServiceInfo
from runhub_wes.settings import Endpoint, WesSettings
from runhub_wes.states import STATES, to_status
from runhub_wes.translate import Submission, launch_tags, translate

log = logging.getLogger("runhub.wes")
BACKEND = "wes"


class WesBackend(Backend):
    """Runs workflows on a GA4GH WES server (``POST /runs``)."""

    name: ClassVar[str] = BACKEND
    version: ClassVar[str | None] = __version__
    settings_model: ClassVar[type[WesSettings]] = WesSettings
    capabilities: ClassVar[Capabilities] = Capabilities(
        cancel=True,
        outputs=True,
        download=True,
        ordered_parameters=False,
        named_parameters=True,
        processes=False,
        tags=True,
        version=False,
        outputs_path=False,
        batch_status=True,
        idempotent_launch=False,
        detail=True,
        logs=("stdout", "stderr"),
        # The spec does not say when a posted run appears in GET /runs.
        launch_settle=5.0,
    )
    states = STATES

    settings: WesSettings

    def __init__(self, settings: WesSettings) -> None:
        super().__init__(settings)
        self._endpoint: Endpoint | None = None
        self._info: ServiceInfo | None = None
        #: Run ids known to exist on the server.
        self._known: set[str] = set()
        #: Run ids this instance's launches returned (never adopted twice).
        self._claimed: set[str] = set()

    # -- plumbing --------------------------------------------------------------------

    def serves_local_files(self) -> bool:
        """A server on this machine (loopback) reports outputs as local ``file://``s."""
        return self.endpoint().loopback

    def endpoint(self) -> Endpoint:
        """The configured server (ConfigError naming the variables if not)."""
        if self._endpoint is None:
            self._endpoint = self.settings.endpoint()
        return self._endpoint

    def _req(self, method: str, path: str, **kwargs: Any) -> httpx.Request:
        ep = self.endpoint()
        return request(method, ep.url(path), headers=ep.headers, **kwargs)

    def _run_log_request(self, run_id: str) -> httpx.Request:
        return self._req("GET", f"/runs/{run_id}", purpose="run log")

    def _page_request(self, params: dict[str, Any]) -> httpx.Request:
        return self._req("GET", "/runs", params=params, purpose="list runs")

    def secrets(self) -> list[str]:
        """The token, the password, and the Basic-encoded credential, for redaction."""
        values = self.settings.secret_values()
        with contextlib.suppress(ConfigError):
            values += self.endpoint().credentials
        return values

    def error_for(self, response: httpx.Response, context: str) -> PlatformError:
        """``ErrorResponse.msg`` (or problem+json ``detail``) becomes the error text."""
        return error_for(response, context)

    # -- offline ---------------------------------------------------------------------

    def validate(self, spec: RunSpec) -> None:
        """Every check that needs no request: SpecError naming the field."""
        super().validate(spec)
        translate(spec, default_engine=self.settings.engine)

    # -- service-info ----------------------------------------------------------------

    def service_info(self) -> Exchange[ServiceInfo]:
        """``GET /service-info``: the workflow types, versions and engines the server
        runs (asked once per backend instance)."""
        self.endpoint()
        return self._service_info(strict=True)

    def _service_info(self, *, strict: bool) -> Exchange[ServiceInfo]:
        if self._info is None:
            try:
                response = yield self._req("GET", "/service-info", purpose="service info")
                self._info = ServiceInfo.parse(response_json(response))
            except AuthError:
                raise
            except PlatformError as error:
                if strict:
                    raise
                # A server without service-info can still run workflows: check nothing.
                log.info("no service-info (%s); launching unchecked", error.message)
                self._info = ServiceInfo()
        return self._info

    # -- launch ----------------------------------------------------------------------

    def launch(self, spec: RunSpec, key: str, *, batch: str | None = None) -> Exchange[RunStatus]:
        """POST the run form, tagged with ``key``; after an ambiguous failure, look the
        run up by that tag, and never POST a second time."""
        submission = translate(spec, default_engine=self.settings.engine)
        self.endpoint()  # configuration errors before any request
        return self._launch(submission, key, batch, spec.name)

    def _launch(
        self, submission: Submission, key: str, batch: str | None, name: str | None
    ) -> Exchange[RunStatus]:
        info = yield from self._service_info(strict=False)
        version = info.resolve_version(submission.workflow_type, submission.workflow_type_version)
        info.check_engine(submission.engine)
        form = submission.form(version, launch_tags(submission, key, batch))
        started = time.time()
        try:
            response = yield self._req(
                "POST",
                "/runs",
                form=form,
                files=submission.files(),
                purpose=f"run {submission.workflow_url}",
            )
        except AmbiguousLaunch as error:
            search = yield from self._search(key, since=started, claimed=frozenset())
            if search.found is None:
                raise self._undecided(error.message, search) from None
            log.warning("launch with key %s was interrupted; found its run", key)
            return self._adopt(search.found, batch, name)
        body = response_json(response)
        run_id = body.get("run_id") if isinstance(body, Mapping) else None
        if not isinstance(run_id, str) or not run_id:
            raise PlatformError(f"POST /runs answered without a run_id: {str(body)[:160]}")
        self._known.add(run_id)
        self._claimed.add(run_id)
        return RunStatus(
            ref=RunRef(BACKEND, run_id, batch),
            state=RunState.PENDING,
            message="submitted",
            name=name,
        )

    def _adopt(self, body: Mapping[str, Any], batch: str | None, name: str | None) -> RunStatus:
        run_id = str(body["run_id"])
        self._known.add(run_id)
        self._claimed.add(run_id)
        status = to_status(RunRef(BACKEND, run_id, batch), body, name)
        status.extra["recovered"] = True
        return status

    def _search(self, key: str, *, since: float, claimed: frozenset[str]) -> Exchange[Search]:
        return find_by_key(
            key,
            get_page=self._page_request,
            get_log=self._run_log_request,
            page_size=self.settings.page_size,
            claimed=self._claimed | claimed,
            since=since,
        )

    def _undecided(self, what: str, search: Search) -> AmbiguousLaunch:
        if search.decided:
            reason = "no run tagged with its launch key is on the server (yet)"
        else:
            reason = "; ".join(search.why)
        error = AmbiguousLaunch(f"{what}; looked for its run: {reason}. Nothing was sent again")
        error.hint = (
            "run the same launch again (the ledger looks the run up first), or check "
            "the server's runs for the tag runhub_key"
        )
        return error

    def recover(
        self, spec: RunSpec, key: str, *, since: float, claimed: frozenset[str] = frozenset()
    ) -> Exchange[RunStatus | None]:
        """After a crash: the run tagged with ``key``; None once every run was seen and
        none has it; AmbiguousLaunch if the server's runs could not all be read."""
        self.endpoint()
        return self._recover(key, since, claimed)

    def _recover(
        self, key: str, since: float, claimed: frozenset[str]
    ) -> Exchange[RunStatus | None]:
        search = yield from self._search(key, since=since, claimed=claimed)
        if search.found is not None:
            return self._adopt(search.found, None, None)
        if not search.decided:
            raise self._undecided("an earlier launch was interrupted", search)
        return None

    # -- tracking --------------------------------------------------------------------

    def status(self, ref: RunRef) -> Exchange[RunStatus]:
        """``GET /runs/{id}/status``; the run log for an id not seen yet and for a
        finished run (exit code and times)."""
        self.endpoint()
        return self._status(ref)

    def _status(self, ref: RunRef) -> Exchange[RunStatus]:
        if ref.id not in self._known:
            return (yield from self._from_run_log(ref))
        response = yield self._req("GET", f"/runs/{ref.id}/status", purpose="run status")
        current = to_status(ref, _mapping(response_json(response)))
        if current.is_terminal:
            return (yield from self._from_run_log(ref))
        return current

    def _run_log(self, ref: RunRef) -> Exchange[Mapping[str, Any]]:
        """The RunLog of ``ref``; NotFound if the answer is not a run's log."""
        response = yield self._run_log_request(ref.id)
        body = _mapping(response_json(response))
        if not isinstance(body.get("request"), Mapping) and not isinstance(
            body.get("run_log"), Mapping
        ):
            raise NotFound(
                f"GET /runs/{ref.id} answered without a run log: the server knows no run {ref.id}"
            )
        self._known.add(ref.id)
        return body

    def _from_run_log(self, ref: RunRef) -> Exchange[RunStatus]:
        return to_status(ref, (yield from self._run_log(ref)))

    def statuses(self, refs: Sequence[RunRef]) -> Exchange[list[RunStatus]]:
        """Pages of ``GET /runs`` for many runs (never more pages than runs asked);
        one request per run for refs not seen yet or not listed."""
        self.endpoint()
        return self._statuses(list(refs))

    def _statuses(self, refs: list[RunRef]) -> Exchange[list[RunStatus]]:
        if len(refs) < 2:
            return (yield from self._one_by_one(refs))
        # A ref with a batch came from a runhub launch (the ledger keeps it): it exists.
        for ref in refs:
            if ref.batch is not None:
                self._known.add(ref.id)
        wanted = {ref.id for ref in refs if ref.id in self._known}
        listed: dict[str, dict[str, Any]] = {}
        if wanted:
            listing = yield from list_runs(
                self._page_request,
                self.settings.page_size,
                max_pages=max(1, len(wanted) // 2),
                enough=lambda items: wanted <= {i["run_id"] for i in items},
            )
            listed = {i["run_id"]: i for i in listing if i["run_id"] in wanted}
        results = []
        for ref in refs:
            item = listed.get(ref.id)
            if item is None:
                results.append((yield from self._status(ref)))
            else:
                results.append(to_status(ref, item))
        return results

    def cancel(self, ref: RunRef) -> Exchange[RunStatus]:
        """``POST /runs/{id}/cancel``, unless the run has already ended; returns the
        status right after (a server may take a while to stop, or ignore it)."""
        self.endpoint()
        return self._cancel(ref)

    def _cancel(self, ref: RunRef) -> Exchange[RunStatus]:
        current = yield from self._status(ref)
        if current.is_terminal:
            return current
        # Cancelling twice is harmless: the driver may retry it.
        yield self._req("POST", f"/runs/{ref.id}/cancel", idempotent=True, purpose="cancel run")
        after = yield from self._status(ref)
        if after.state in (RunState.CANCELLING, RunState.CANCELLED):
            return after
        return after.with_(message="cancel requested; the server has not acted on it yet")

    # -- results ---------------------------------------------------------------------

    def outputs(self, ref: RunRef) -> Exchange[list[Output]]:
        """The files in ``RunLog.outputs`` (object or sapporo's list)."""
        self.endpoint()
        return self._outputs(ref)

    def _outputs(self, ref: RunRef) -> Exchange[list[Output]]:
        body = yield from self._run_log(ref)
        return parse_outputs(body.get("outputs"), loopback=self.endpoint().loopback)

    def run_logs(self, ref: RunRef) -> Exchange[RunLogs]:
        """``RunLog.run_log``: command, exit code, stdout and stderr (fetched when the
        server gives URLs on itself)."""
        self.endpoint()
        return self._run_logs(ref)

    def logs(self, ref: RunRef, stream: str = "stdout") -> Exchange[LogText]:
        """One stream of ``RunLog.run_log`` (``runhub logs``); complete once the run
        has ended."""
        if stream not in self.capabilities.logs:
            raise Unsupported(f"the wes backend has no {stream!r} log", hint="stdout or stderr")
        self.endpoint()
        return self._log_text(ref, stream)

    def _log_text(self, ref: RunRef, stream: str) -> Exchange[LogText]:
        found = yield from self._run_logs(ref)
        current = yield from self._status(ref)
        text = found.stdout if stream == "stdout" else found.stderr
        url = found.stdout_url if stream == "stdout" else found.stderr_url
        return LogText(stream, text or "", current.is_terminal, [url] if url else [])

    def detail(self, ref: RunRef) -> Exchange[RunDetail]:
        """The run's request as the server echoes it (``RunLog.request``) and its state."""
        self.endpoint()
        return self._detail(ref)

    def _detail(self, ref: RunRef) -> Exchange[RunDetail]:
        body = yield from self._run_log(ref)
        asked = body.get("request")
        asked = asked if isinstance(asked, Mapping) else {}
        params = asked.get("workflow_params")
        if isinstance(params, str):  # the form field is JSON text; servers echo either
            with contextlib.suppress(ValueError):
                params = json.loads(params)
        tags = asked.get("tags")
        if isinstance(tags, str):
            with contextlib.suppress(ValueError):
                tags = json.loads(tags)
        extra = {
            k: asked[k]
            for k in ("workflow_type", "workflow_type_version", "workflow_engine")
            if isinstance(asked.get(k), str)
        }
        return RunDetail(
            status=to_status(ref, body),
            pipeline=asked.get("workflow_url")
            if isinstance(asked.get("workflow_url"), str)
            else None,
            parameters=params,
            tags=tags,
            extra=extra,
        )

    def _run_logs(self, ref: RunRef) -> Exchange[RunLogs]:
        body = yield from self._run_log(ref)
        ep = self.endpoint()
        return (
            yield from read_logs(
                ref,
                body,
                fetch=lambda url: request("GET", url, headers=ep.headers, purpose="run logs"),
                same_origin=ep.same_origin,
            )
        )


def _mapping(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise PlatformError(f"the WES server answered with {type(body).__name__}, not an object")
    return body
