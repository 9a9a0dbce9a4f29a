"""The retry policy of DESIGN.md §6, driven over httpx MockTransport (no sockets)."""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import stamina

from runhub.backend import request
from runhub.dryrun import DryRunDriver
from runhub.errors import (
    AmbiguousLaunch,
    AuthError,
    NotFound,
    PlatformError,
    RateLimited,
    TransportError,
)
from runhub.spec import RunSpec
from runhub.state import RunState
from runhub.transport import Redactor, RetryPolicy, SyncDriver, retry_after

from .conftest import SECRET, ToyBackend

FAST = RetryPolicy(attempts=4, budget=30, wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)
SPEC = RunSpec(pipeline="p1")


class Script:
    """Answers requests from a list of canned outcomes, recording what was sent."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.seen: list[httpx.Request] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.seen.append(req)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        if isinstance(outcome, int):
            return httpx.Response(outcome, json={"id": "r1", "state": "running"})
        return outcome

    def posts(self) -> int:
        return sum(1 for r in self.seen if r.method == "POST")


def drive(toy: ToyBackend, script: Script, policy: RetryPolicy = FAST) -> SyncDriver:
    return SyncDriver(httpx.Client(transport=httpx.MockTransport(script)), toy, policy)


def ok(state: str = "running") -> httpx.Response:
    return httpx.Response(200, json={"id": "r1", "state": state})


def test_429_with_retry_after_waits_that_long_then_succeeds(
    toy: ToyBackend, retries_recorded: list[Any]
) -> None:
    script = Script(httpx.Response(429, headers={"Retry-After": "1"}), ok())
    status = drive(toy, script).run(toy.status(toy_ref()))
    assert status.state is RunState.RUNNING
    assert len(script.seen) == 2
    assert [r.wait_for for r in retries_recorded] == [1.0]


@pytest.fixture
def stamina_logging() -> Iterator[logging.Logger]:
    """stamina's standard-library logging hook (its default without structlog)."""
    previous = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([stamina.instrumentation.LoggingOnRetryHook])
    logger = logging.getLogger("stamina")
    level = logger.level
    yield logger
    logger.setLevel(level)
    stamina.instrumentation.set_on_retry_hooks(previous)


def test_stamina_warns_of_runhubs_own_retries_only_at_debug(
    toy: ToyBackend, caplog: pytest.LogCaptureFixture, stamina_logging: logging.Logger
) -> None:
    """Unconfigured, each paced-out request printed a bare ``stamina.retry_scheduled``;
    the transport logs its attempts itself. Other code's stamina retries still warn."""
    caplog.set_level(logging.WARNING)

    def stamina_records() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "stamina"]

    script = Script(httpx.Response(429, headers={"Retry-After": "0"}), ok())
    drive(toy, script).run(toy.status(toy_ref()))
    assert len(script.seen) == 2
    assert stamina_records() == []

    failures = [ValueError("first try")]
    for attempt in stamina.retry_context(on=ValueError, attempts=2, wait_initial=0, wait_jitter=0):
        with attempt:
            if failures:
                raise failures.pop()
    assert [r.getMessage() for r in stamina_records()] == ["stamina.retry_scheduled"]

    stamina_logging.setLevel(logging.DEBUG)
    drive(toy, Script(httpx.Response(429, headers={"Retry-After": "0"}), ok())).run(
        toy.status(toy_ref())
    )
    assert len(stamina_records()) == 2


def test_retry_after_as_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=30)
    header = email.utils.format_datetime(when, usegmt=True)
    seconds = retry_after(httpx.Response(429, headers={"Retry-After": header}), cap=60)
    assert seconds is not None
    assert 25 <= seconds <= 30
    capped = retry_after(httpx.Response(429, headers={"Retry-After": "7200"}), cap=60)
    assert capped == 60
    assert retry_after(httpx.Response(429, headers={"Retry-After": "soon"}), cap=60) is None


def test_503_is_retried_with_growing_backoff(toy: ToyBackend, retries_recorded: list[Any]) -> None:
    script = Script(503, 503, ok())
    status = drive(toy, script).run(toy.status(toy_ref()))
    assert status.native == "running"
    assert len(script.seen) == 3
    waits = [r.wait_for for r in retries_recorded]
    assert len(waits) == 2
    assert 0 < waits[0] < waits[1]


def test_connect_error_is_retried_even_for_a_post(toy: ToyBackend) -> None:
    script = Script(ok(), httpx.ConnectError("refused"), 201)
    status = drive(toy, script).run(toy.launch(SPEC, "k1"))
    assert str(status.ref) == "toy:r1"
    assert script.posts() == 2


def test_read_timeout_on_post_without_key_is_ambiguous_after_one_attempt(toy: ToyBackend) -> None:
    script = Script(ok(), httpx.ReadTimeout("slow"), 201)
    with pytest.raises(AmbiguousLaunch) as caught:
        drive(toy, script).run(toy.launch(SPEC, "k1"))
    assert script.posts() == 1
    assert caught.value.method == "POST"
    assert caught.value.exit_code == 4


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("dropped"), 502, 504],
    ids=["read-timeout", "dropped", "502", "504"],
)
def test_ambiguous_failure_on_post_with_key_is_retried(toy: ToyBackend, failure: Any) -> None:
    toy.use_key = True
    script = Script(ok(), failure, 201)
    status = drive(toy, script).run(toy.launch(SPEC, "k1"))
    assert str(status.ref) == "toy:r1"
    posts = [r for r in script.seen if r.method == "POST"]
    assert len(posts) == 2
    assert {p.headers["Idempotency-Key"] for p in posts} == {"k1"}


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_to_a_post_without_key_is_ambiguous(toy: ToyBackend, status: int) -> None:
    # The server may have created the run before it failed: never POSTed a second time.
    script = Script(ok(), httpx.Response(status, headers={"Retry-After": "0"}), 201)
    with pytest.raises(AmbiguousLaunch):
        drive(toy, script).run(toy.launch(SPEC, "k1"))
    assert script.posts() == 1


@pytest.mark.parametrize("status", [500, 503])
def test_server_error_to_a_keyed_post_is_retried_with_the_same_key(
    toy: ToyBackend, status: int
) -> None:
    toy.use_key = True
    script = Script(ok(), status, 201)
    assert str(drive(toy, script).run(toy.launch(SPEC, "k1")).ref) == "toy:r1"
    assert {p.headers["Idempotency-Key"] for p in script.seen if p.method == "POST"} == {"k1"}
    assert script.posts() == 2


def test_409_to_a_keyed_create_waits_for_the_first_request(toy: ToyBackend) -> None:
    # ICA: 409 = the first request with this key is still in progress.
    toy.use_key = True
    script = Script(ok(), 409, 409, 201)
    assert str(drive(toy, script).run(toy.launch(SPEC, "k1")).ref) == "toy:r1"
    assert script.posts() == 3


def test_409_that_never_settles_is_ambiguous_not_failed(toy: ToyBackend) -> None:
    toy.use_key = True
    script = Script(ok(), *([409] * FAST.attempts))
    with pytest.raises(AmbiguousLaunch) as caught:
        drive(toy, script).run(toy.launch(SPEC, "k1"))
    assert script.posts() == FAST.attempts
    assert "still in progress" in str(caught.value)


def test_409_without_a_key_is_the_platform_s_answer(toy: ToyBackend) -> None:
    script = Script(ok(), 409)
    with pytest.raises(PlatformError) as caught:
        drive(toy, script).run(toy.launch(SPEC, "k1"))
    assert not isinstance(caught.value, AmbiguousLaunch)
    assert caught.value.status == 409
    assert script.posts() == 1


def test_500_to_a_read_is_reported_at_once(toy: ToyBackend) -> None:
    script = Script(httpx.Response(500, text="NullPointerException"))
    with pytest.raises(PlatformError) as caught:
        drive(toy, script).run(toy.status(toy_ref()))
    assert not isinstance(caught.value, AmbiguousLaunch)
    assert len(script.seen) == 1
    assert "NullPointerException" in str(caught.value)


@pytest.mark.parametrize("failure", [502, 504, httpx.RemoteProtocolError("dropped")])
def test_ambiguous_failure_on_get_is_retried(toy: ToyBackend, failure: Any) -> None:
    script = Script(failure, ok("done"))
    assert drive(toy, script).run(toy.status(toy_ref())).state is RunState.SUCCEEDED


def test_truncated_json_on_get_is_retried(toy: ToyBackend) -> None:
    broken = httpx.Response(200, headers={"Content-Type": "application/json"}, content=b'{"id": "r')
    script = Script(broken, ok("done"))
    assert drive(toy, script).run(toy.status(toy_ref())).state is RunState.SUCCEEDED


def test_truncated_json_on_unkeyed_post_is_ambiguous(toy: ToyBackend) -> None:
    broken = httpx.Response(201, headers={"Content-Type": "application/json"}, content=b'{"id"')
    script = Script(ok(), broken)
    with pytest.raises(AmbiguousLaunch):
        drive(toy, script).run(toy.launch(SPEC, "k1"))


def test_429_retries_stop_at_the_limit_with_rate_limited(toy: ToyBackend) -> None:
    script = Script(httpx.Response(429))
    with pytest.raises(RateLimited) as caught:
        drive(toy, script).run(toy.status(toy_ref()))
    assert len(script.seen) == FAST.attempts
    assert caught.value.status == 429


def test_503_retries_stop_at_the_limit_with_platform_error(toy: ToyBackend) -> None:
    script = Script(httpx.Response(503, text="down for maintenance"))
    with pytest.raises(PlatformError) as caught:
        drive(toy, script).run(toy.status(toy_ref()))
    assert len(script.seen) == FAST.attempts
    assert caught.value.status == 503
    assert "down for maintenance" in str(caught.value)


def test_connect_errors_stop_at_the_limit_with_transport_error(toy: ToyBackend) -> None:
    script = Script(httpx.ConnectError("refused"))
    with pytest.raises(TransportError):
        drive(toy, script).run(toy.status(toy_ref()))
    assert len(script.seen) == FAST.attempts


@pytest.mark.parametrize(
    ("status", "error"), [(401, AuthError), (403, AuthError), (404, NotFound), (400, PlatformError)]
)
def test_client_errors_are_not_retried_and_map_to_the_hierarchy(
    toy: ToyBackend, status: int, error: type[Exception]
) -> None:
    script = Script(httpx.Response(status, json={"message": "nope"}))
    with pytest.raises(error):
        drive(toy, script).run(toy.status(toy_ref()))
    assert len(script.seen) == 1


def test_errors_are_thrown_into_the_exchange_which_may_recover(toy: ToyBackend) -> None:
    def op() -> Any:
        try:
            yield request("GET", "https://toy.example/missing")
        except NotFound:
            got = yield request("GET", "https://toy.example/fallback")
            return got.json()["state"]
        return "not reached"

    def answer(req: httpx.Request) -> httpx.Response:
        if req.url.path == "/missing":
            return httpx.Response(404)
        return httpx.Response(200, json={"state": "recovered"})

    driver = SyncDriver(httpx.Client(transport=httpx.MockTransport(answer)), toy, FAST)
    assert driver.run(op()) == "recovered"


def test_every_request_gets_timeouts(toy: ToyBackend) -> None:
    script = Script(ok())
    drive(toy, script).run(toy.status(toy_ref()))
    timeout = script.seen[0].extensions["timeout"]
    assert all(timeout[k] for k in ("connect", "read", "write", "pool"))


def test_no_secret_in_any_log_record_or_error(
    toy: ToyBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    leaky = httpx.Response(401, text=f"bad token {SECRET} for https://toy.example/?token={SECRET}")
    script = Script(httpx.Response(429), 503, httpx.ConnectError(f"refused {SECRET}"), leaky)
    with pytest.raises(AuthError) as caught:
        drive(toy, script).run(toy.status(toy_ref()))
    assert caplog.records, "the transport should log each attempt"
    for record in caplog.records:
        assert SECRET not in record.getMessage()
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value)
    assert SECRET not in repr(toy.settings)


def test_redactor_masks_sensitive_headers_and_values() -> None:
    redact = Redactor()
    redact.add([SECRET])
    headers = httpx.Headers({"Authorization": "Basic abc", "X-Trace": f"t-{SECRET}"})
    shown = redact.headers(headers)
    assert shown["authorization"] == "***"
    assert shown["x-trace"] == "t-***"
    assert SECRET not in repr(redact)


def test_dry_run_performs_reads_and_stops_at_the_first_mutation(toy: ToyBackend) -> None:
    script = Script(ok())
    driver = DryRunDriver(httpx.Client(transport=httpx.MockTransport(script)), toy, FAST)
    result = driver.dry_run(toy.launch(SPEC, "k1"))
    assert [r.method for r in script.seen] == ["GET"]
    assert result.request is not None
    assert result.request.method == "POST"
    rendered = result.render(driver.redact)
    assert rendered.startswith("POST https://toy.example/runs")
    assert '"p": "p1"' in rendered
    assert SECRET not in rendered
    assert "authorization: ***" in rendered.lower()


def test_read_only_post_is_performed_by_dry_run(toy: ToyBackend) -> None:
    def op() -> Any:
        found = yield request("POST", "https://toy.example/search", json_body={}, read_only=True)
        yield request("POST", "https://toy.example/runs", json_body={"n": len(found.json())})

    script = Script(httpx.Response(200, json=[1, 2]))
    driver = DryRunDriver(httpx.Client(transport=httpx.MockTransport(script)), toy, FAST)
    result = driver.dry_run(op())
    assert len(script.seen) == 1
    assert result.request is not None
    assert result.request.url.path == "/runs"


def toy_ref() -> Any:
    from runhub.backend import RunRef

    return RunRef("toy", "r1")


def test_html_error_pages_become_their_text(toy: ToyBackend) -> None:
    page = (
        "<html><head><style>h1{color:red}</style><title>500</title></head>"
        "<body><h1>500 Internal Server Error</h1><p>nginx &amp; friends</p></body></html>"
    )
    script = Script(httpx.Response(500, headers={"Content-Type": "text/html"}, text=page))
    with pytest.raises(PlatformError) as caught:
        drive(toy, script).run(toy.status(toy_ref()))
    message = str(caught.value)
    assert "500 Internal Server Error nginx & friends" in message
    assert "<" not in message
    assert "color" not in message
