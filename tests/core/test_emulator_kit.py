"""The shared emulator toolkit: faults in-process and over HTTP, rate limits."""

from __future__ import annotations

import time

import httpx
import pytest

from runhub.testing.emulator import (
    FAULT_KINDS,
    EmulatorServer,
    FaultPlan,
    RateLimit,
    mock_transport,
)


class Counter:
    def __init__(self) -> None:
        self.handled = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.handled += 1
        return httpx.Response(200, json={"n": self.handled, "body": request.content.decode()})


@pytest.mark.parametrize("kind", [k for k in FAULT_KINDS if k != "slow"])
def test_each_fault_in_process(kind: str) -> None:
    app = Counter()
    plan = FaultPlan(slow_seconds=0.0, late_seconds=0.5)
    plan.push(kind)
    client = httpx.Client(transport=mock_transport(app, plan))
    if kind.startswith("drop") or kind == "late":
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("http://emulator/x", content=b"hi")
    else:
        answer = client.post("http://emulator/x", content=b"hi")
        expected = {"429": 429, "429-no-retry-after": 429, "503": 503, "502": 502, "504": 504}
        assert answer.status_code == expected.get(kind, 200)
        if kind == "429":
            assert answer.headers["Retry-After"] == "1"
        if kind == "malformed":
            with pytest.raises(ValueError, match=r"."):
                answer.json()
    # drop-after and malformed reach the app (the run may exist); the others do not.
    assert app.handled == (1 if kind in ("drop-after", "malformed") else 0)
    assert plan.counts[kind] == 1
    if kind == "late":  # reaches the app only after the client has given up
        deadline = time.monotonic() + 5
        while app.handled == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert app.handled == 1


def test_faults_and_latency_over_real_http() -> None:
    app = Counter()
    plan = FaultPlan()
    server = EmulatorServer(app, faults=plan, latency=0.001)
    with server, httpx.Client(base_url=server.url) as client:
        assert client.get("/a").json()["n"] == 1
        plan.push("drop-after")
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/b", content=b"x")
        plan.push("502")
        assert client.get("/c").status_code == 502
        assert client.get("/d").json()["n"] == 3
    assert server.requests == 4


def test_share_of_faults_follows_the_rate() -> None:
    plan = FaultPlan(0.2, ["503"], seed=7)
    hits = sum(plan.decide(httpx.Request("GET", "http://x/y")) is not None for _ in range(2000))
    assert 300 < hits < 500


def test_only_restricts_faults_to_matching_requests() -> None:
    plan = FaultPlan(1.0, ["503"], only=["POST /runs"])
    assert plan.decide(httpx.Request("GET", "http://x/runs")) is None
    assert plan.decide(httpx.Request("POST", "http://x/runs")) == "503"


def test_rate_limit_answers_429_beyond_the_burst() -> None:
    limit = RateLimit(1.0, burst=3, retry_after=True)
    client = httpx.Client(transport=mock_transport(Counter(), rate_limit=limit))
    codes = [client.get("http://emulator/").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert (limit.allowed, limit.limited) == (3, 2)
    quiet = RateLimit(1.0, burst=1)
    assert quiet.check() is None
    answer = quiet.check()
    assert answer is not None
    assert "Retry-After" not in answer.headers
