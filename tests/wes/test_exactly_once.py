"""Exactly-once launches on WES, which takes no idempotency key: runhub tags each run
with its launch key and, when a launch's outcome is unknown, finds the run by that
tag or reports the launch ambiguous. Never a second POST on a guess.

Faults are injected between runhub and a real server: the in-process transport hands
each request to :class:`Forward`, which sends it on to the server, so ``drop-after``
loses the answer of a POST the server did act on.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("runhub_wes", reason="runhub-wes is not installed (pip install -e plugins/wes)")

from runhub_wes.backend import WesBackend

from runhub import RetryPolicy
from runhub.client import Client, PollSchedule
from runhub.errors import AmbiguousLaunch
from runhub.ledger import Ledger
from runhub.spec import RunSpec
from runhub.testing import FaultPlan, mock_transport

from .conftest import EXAMPLES
from .servers import WesServer, run_ids

FAST_RETRY = RetryPolicy(wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)
FAST = PollSchedule(initial=0.1, cap=0.3, jitter=0.0)
ECHO = RunSpec(pipeline=(EXAMPLES / "echo.cwl").as_uri(), parameters={"message": "once"})


class Forward:
    """An emulator-shaped app that is the real server: every request goes on to it."""

    def __init__(self) -> None:
        self.http = httpx.Client(timeout=30)
        self.posts = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/runs"):
            self.posts += 1
        upstream = self.http.send(
            httpx.Request(request.method, request.url, headers=request.headers,
                          content=request.content)
        )  # fmt: skip
        headers = {
            k: v
            for k, v in upstream.headers.items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
        }
        return httpx.Response(upstream.status_code, headers=headers, content=upstream.content)


@pytest.fixture
def forward() -> Iterator[Forward]:
    app = Forward()
    yield app
    app.http.close()


def faulty_client(server: WesServer, app: Forward, *faults: str) -> Client:
    plan = FaultPlan(only=("POST /",))  # the first POST is the launch
    plan.push(*faults)
    return Client(
        settings={"wes": server.settings()},
        transport=mock_transport(app, plan),
        policy=FAST_RETRY,
    )


def tagged(server: WesServer, key: str) -> list[str]:
    """Ids of the server's runs whose tags (listed, or in the run log) hold ``key``."""
    found = []
    listing = httpx.get(f"{server.url}/runs", params={"page_size": 1000}).json()
    for item in listing.get("runs") or listing.get("workflows"):
        tags: Any = item.get("tags")
        if tags is None:
            log = httpx.get(f"{server.url}/runs/{item['run_id']}")
            tags = (log.json().get("request") or {}).get("tags") if log.is_success else {}
        if (tags or {}).get("runhub_key") == key:
            found.append(item["run_id"])
    return found


def test_a_lost_launch_answer_is_recovered_by_its_tag_with_one_post(
    server: WesServer, forward: Forward
) -> None:
    key = f"once-{uuid.uuid4().hex}"
    with faulty_client(server, forward, "drop-after") as client:
        status = client.launch(ECHO, "wes", key=key)
        assert forward.posts == 1
        assert status.extra.get("recovered") is True
        assert tagged(server, key) == [status.ref.id]
        client.wait(status.ref, timeout=60, poll=FAST)


@pytest.mark.parametrize("fault", ["drop-before", "502"])
def test_a_launch_whose_run_cannot_be_found_is_ambiguous_and_never_sent_again(
    server: WesServer, forward: Forward, fault: str
) -> None:
    before = len(run_ids(server))
    key = f"once-{uuid.uuid4().hex}"
    with faulty_client(server, forward, fault) as client, pytest.raises(AmbiguousLaunch) as err:
        client.launch(ECHO, "wes", key=key)
    assert forward.posts == 0  # the fault answered for the server: nothing reached it
    assert "Nothing was sent again" in str(err.value)
    assert len(run_ids(server)) == before
    assert tagged(server, key) == []


def _recover(client: Client, key: str) -> Any:
    backend = client.backend("wes")
    assert isinstance(backend, WesBackend)
    return client.driver(backend).run(backend.recover(ECHO, key, since=0.0))


def test_recover_finds_the_run_of_a_key_and_nothing_for_an_unknown_key(
    sapporo: WesServer,
) -> None:
    key = f"once-{uuid.uuid4().hex}"
    with Client(settings={"wes": sapporo.settings()}) as client:
        launched = client.launch(ECHO, "wes", key=key)
    with Client(settings={"wes": sapporo.settings()}) as fresh:  # a new process
        found = _recover(fresh, key)
        assert found.ref == launched.ref
        assert found.extra["recovered"] is True
        # sapporo lists every run's tags: a key on none of them is a decided "absent"
        assert _recover(fresh, f"never-sent-{uuid.uuid4().hex}") is None
        fresh.wait(launched.ref, timeout=60, poll=FAST)


def test_a_run_whose_tags_cannot_be_read_makes_recovery_undecided(
    wes_service: WesServer, tmp_path: Path
) -> None:
    """wes-service lists runs without tags, so runhub opens each run log; a listed id
    whose log is an error (wes-service lists ids it was merely asked about) could be
    the run: the launch is reported ambiguous, through the ledger as well."""
    with Client(settings={"wes": wes_service.settings()}) as client:
        httpx.get(f"{wes_service.url}/runs/{uuid.uuid4().hex}/status")  # now listed, unreadable
        with pytest.raises(AmbiguousLaunch, match="could not be read") as err:
            _recover(client, f"never-sent-{uuid.uuid4().hex}")
        assert err.value.hint is not None
        ledger = Ledger(tmp_path / "ledger.sqlite")
        record = ledger.intent("wes", ECHO.digest(), batch="b-once", row_key="r1")
        ledger.attempt(record.key)  # a crash right after this: was the POST sent?
        before = len(run_ids(wes_service))
        client.ledger = ledger
        try:
            with pytest.raises(AmbiguousLaunch):
                client.launch(ECHO, "wes", batch="b-once", row_key="r1")
        finally:
            client.ledger = None
        assert len(run_ids(wes_service)) == before
        after = ledger.get(record.key)
        assert after is not None
        assert after.ref is None  # still attempted: looked up again next time
        assert after.attempted_at is not None
