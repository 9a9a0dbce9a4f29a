"""The transport's limits and failure classes, over httpx MockTransport (no sockets):
what retrying cannot fix, a wrong URL failing fast, retry notices, the settings."""

from __future__ import annotations

import logging
import socket
import sqlite3
import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest

from runhub.backend import RunRef
from runhub.errors import ConfigError, PlatformError, TransportError
from runhub.netfail import classify
from runhub.policy import RetryPolicy
from runhub.transport import SyncDriver

from .conftest import ToyBackend

FAST = RetryPolicy(attempts=6, budget=30, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0)
REF = RunRef("toy", "r1")
URL = httpx.URL("https://toy.example:8443/runs/r1")


def _caused(exc: httpx.HTTPError, cause: BaseException) -> httpx.HTTPError:
    exc.__cause__ = cause
    return exc


def test_unknown_host_and_refused_are_unreachable_with_a_hint() -> None:
    unknown = classify(
        _caused(
            httpx.ConnectError("lookup failed"), socket.gaierror(-2, "Name or service not known")
        ),
        URL,
    )
    assert (unknown.kind, unknown.unreachable, unknown.final) == ("unknown-host", True, False)
    assert "'toy.example' does not resolve" in (unknown.hint or "")
    refused = classify(_caused(httpx.ConnectError("x"), ConnectionRefusedError(111, "r")), URL)
    assert refused.reason == "connection refused"
    assert "nothing listens at toy.example:8443" in (refused.hint or "")


def test_certificate_and_plain_http_errors_are_final() -> None:
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert classify(_caused(httpx.ConnectError("x"), cert), URL).final
    plain = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number")
    plain.reason = "WRONG_VERSION_NUMBER"  # type: ignore[misc]
    failure = classify(_caused(httpx.ConnectError("x"), plain), URL)
    assert failure.final
    assert failure.hint == "did you mean http://toy.example:8443?"
    eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    assert not classify(_caused(httpx.ConnectError("x"), eof), URL).final  # transient


class Refusing:
    """Answers ``ok`` first ``answered`` times, then refuses every connection."""

    def __init__(self, answered: int) -> None:
        self.answered = answered
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.calls <= self.answered:
            return httpx.Response(200, json={"id": "r1", "state": "running"})
        raise _caused(httpx.ConnectError("refused"), ConnectionRefusedError(111, "refused"))


def _driver(toy: ToyBackend, handler: Any, policy: RetryPolicy) -> SyncDriver:
    return SyncDriver(httpx.Client(transport=httpx.MockTransport(handler)), toy, policy)


def test_a_platform_that_never_answered_is_retried_briefly(toy: ToyBackend) -> None:
    # 0.2 s for unreachable hosts; waits of 0.1 s: a wrong URL gets few attempts
    policy = RetryPolicy(attempts=8, wait_initial=0.1, wait_max=0.1, wait_jitter=0.0)
    policy = RetryPolicy(**{**policy.__dict__, "unreachable_for": 0.25})
    never = Refusing(answered=0)
    with pytest.raises(TransportError, match="refused"):
        _driver(toy, never, policy).run(toy.status(REF))
    assert 2 <= never.calls <= 4
    # once it has answered, refused connections are an outage: the whole budget
    once = Refusing(answered=1)
    driver = _driver(toy, once, policy)
    driver.run(toy.status(REF))
    with pytest.raises(TransportError):
        driver.run(toy.status(REF))
    assert once.calls == 1 + policy.attempts


def test_each_scheduled_retry_is_announced(
    toy: ToyBackend, caplog: pytest.LogCaptureFixture
) -> None:
    answers = iter([httpx.Response(503, text="busy"), httpx.Response(429, text="slow down")])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(answers, httpx.Response(200, json={"id": "r1", "state": "running"}))

    with caplog.at_level(logging.INFO, logger="runhub.retry"):
        _driver(toy, handler, FAST).run(toy.status(REF))
    notices = [r for r in caplog.records if r.name == "runhub.retry"]
    assert [r.getMessage().split(": ", 1)[1] for r in notices] == [
        "503 from the server",
        "429 Too Many Requests",
    ]
    assert notices[0].getMessage().startswith("retrying in 0.0 s (2/6)")
    assert all(isinstance(r.runhub_wait, float) for r in notices)  # type: ignore[attr-defined]


def test_an_answer_over_the_cap_is_an_error_not_a_retry(toy: ToyBackend) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, content=b'{"id": "r1", "pad": "' + b"x" * 5000 + b'"}')

    small = RetryPolicy(**{**FAST.__dict__, "max_response_bytes": 1000})
    with pytest.raises(PlatformError, match="larger than the 1000-byte cap"):
        _driver(toy, handler, small).run(toy.status(REF))
    assert len(calls) == 1


def test_policy_from_the_environment() -> None:
    policy = RetryPolicy.from_env(
        {
            "RUNHUB_REQUEST_DEADLINE": "5",
            "RUNHUB_MAX_RESPONSE": "256MiB",
            "RUNHUB_RETRY_ATTEMPTS": "3",
        }
    )
    assert (policy.deadline, policy.max_response_bytes, policy.attempts) == (5.0, 256 << 20, 3)
    assert RetryPolicy.from_env({}) == RetryPolicy()
    assert RetryPolicy.from_env({"RUNHUB_MAX_RESPONSE": "1000000"}).max_response_bytes == 10**6
    for variable, value in [
        ("RUNHUB_REQUEST_DEADLINE", "soon"),
        ("RUNHUB_RETRY_ATTEMPTS", "0"),
        ("RUNHUB_MAX_RESPONSE", "lots"),
    ]:
        with pytest.raises(ConfigError, match=variable):
            RetryPolicy.from_env({variable: value})


def test_a_read_only_ledger_error_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runhub.cli.helpers.ledgerfail import problem

    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path))
    path = tmp_path / "ledger.sqlite"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    readonly = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as caught:
        readonly.execute("INSERT INTO t VALUES (1)")
    line = problem(caught.value)
    assert line is not None
    assert str(path) in line
    assert "is read-only" in line
    assert problem(ValueError("not a ledger problem")) is None
