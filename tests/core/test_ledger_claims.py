"""Claims: a row is sent only by the launch that holds it; others wait, re-attach,
or take over from a holder that died or whose lease ran out (through recovery).

Each test drives ``tracked_launch`` (the exchange clients run) by hand, so what is
sent, and when, is visible request by request. Concurrent processes on the
emulators are in tests/reliability/test_concurrency.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from runhub.backend import Capabilities, RunRef
from runhub.client import AsyncClient
from runhub.errors import PlatformError
from runhub.ledger import Launch, Ledger, launch_key
from runhub.ledger.claims import alive, new_owner, this_host
from runhub.plugins import BackendInfo, Registry
from runhub.spec import RunSpec
from runhub.state import RunState, RunStatus
from runhub.tracking import Claimed, Settling, tracked_launch

from .conftest import ToyBackend, ToySettings

SPEC = RunSpec(pipeline="p1", backend="toy", name="row one")
LONG = 600.0


class Toy(ToyBackend):
    """A key-less platform: ``recover`` reports what it was asked and finds ``found``."""

    capabilities = Capabilities(batch_status=False, launch_settle=30.0)
    recovered: ClassVar[list[float]] = []
    found: ClassVar[RunStatus | None] = None

    def recover(
        self, spec: RunSpec, key: str, *, since: float, claimed: frozenset[str] = frozenset()
    ) -> Any:
        Toy.recovered.append(since)
        return Toy.found


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    """Each claim test runs on both stores: the same rules, the same outcomes
    (PostgreSQL: a real server, see tests/conftest.py)."""
    Toy.recovered, Toy.found = [], None
    if request.param == "postgresql":
        return Ledger(request.getfixturevalue("pg_url"))
    return Ledger(tmp_path / "ledger.sqlite")


def set_columns(ledger: Ledger, key: str, **values: float) -> None:
    """Rewrite columns of one row behind the ledger's back (a lease that ran out)."""
    names = list(values)
    if ledger.path is not None:  # SQLite
        assign = ", ".join(f"{n} = ?" for n in names)
        ledger._db().execute(f"UPDATE launches SET {assign} WHERE key = ?", [*values.values(), key])
        return
    assign = ", ".join(f"{n} = %s" for n in names)
    sql = f"UPDATE launches SET {assign} WHERE key = %s"
    ledger.store.db.run("test", lambda db: db.execute(sql, [*values.values(), key]))  # type: ignore[attr-defined]


def backend() -> Toy:
    return Toy(ToySettings())


def row(ledger: Ledger) -> Launch:
    return ledger.intent("toy", SPEC.digest(), batch="b", row_key="r1", name=SPEC.name)


def dead_owner() -> str:
    """The owner id of a process of this host that has exited (and been reaped)."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return f"{this_host()}/{done.stdout.strip()}/gone"


def hold(ledger: Ledger, record: Launch, owner: str, *, lease: float, sent: bool) -> None:
    """``owner`` claims the row (and sent its create, if ``sent``)."""
    claim = ledger.claim(record, owner, lease)
    assert claim.mine
    if sent:
        assert ledger.sent(record.key, owner, lease)


def requests_of(gen: Generator[Any, Any, Any]) -> Any:
    """Start the exchange: its first request (or its return value / exception)."""
    return next(gen)


def answer(request: httpx.Request) -> httpx.Response:
    if request.method == "POST":
        return httpx.Response(201, json={"id": "new-1", "state": "running"}, request=request)
    return httpx.Response(200, json={"id": "x", "state": "running"}, request=request)


def test_a_row_held_by_a_live_launch_is_never_sent_here(ledger: Ledger) -> None:
    record = row(ledger)
    other = f"{this_host()}/{os.getpid()}/other-launch"  # alive: this process
    hold(ledger, record, other, lease=LONG, sent=True)
    gen = tracked_launch(backend(), SPEC, record, ledger, lease=LONG)
    assert isinstance(gen, Generator)
    with pytest.raises(Claimed) as waiting:
        requests_of(gen)  # nothing is sent: not even a lookup
    assert 0 < waiting.value.wait <= 0.25
    # The holder's answer arrives: the next try re-attaches to that run, with the
    # answer the holder recorded (no request).
    ledger.launched(record.key, RunStatus(RunRef("toy", "theirs"), RunState.QUEUED, "queued"))
    again = tracked_launch(backend(), SPEC, record, ledger, lease=LONG)
    assert isinstance(again, Generator)
    with pytest.raises(StopIteration) as done:
        requests_of(again)
    assert str(done.value.value.ref) == "toy:theirs"
    assert done.value.value.state is RunState.QUEUED
    assert Toy.recovered == []
    # A row launched before this launch began is re-attached with its current status.
    launched = ledger.get(record.key)
    assert launched is not None
    later = tracked_launch(backend(), SPEC, launched, ledger, lease=LONG)
    assert isinstance(later, Generator)
    first = requests_of(later)
    assert (first.method, first.url.path) == ("GET", "/runs/theirs")


def test_a_holder_on_another_host_is_trusted_until_its_lease_ends(ledger: Ledger) -> None:
    record = row(ledger)
    hold(ledger, record, "another-host/1/abc", lease=LONG, sent=False)
    gen = tracked_launch(backend(), SPEC, record, ledger, lease=LONG)
    assert isinstance(gen, Generator)
    with pytest.raises(Claimed):
        requests_of(gen)


def test_a_dead_holder_is_taken_over_at_once_through_recovery(ledger: Ledger) -> None:
    record = row(ledger)
    owner = dead_owner()
    assert not alive(owner)
    hold(ledger, record, owner, lease=LONG, sent=True)  # died after sending its create
    Toy.found = RunStatus(RunRef("toy", "made-before-death"), RunState.RUNNING, "running")
    gen = tracked_launch(backend(), SPEC, record, ledger, lease=LONG)
    assert isinstance(gen, Generator)
    with pytest.raises(StopIteration) as done:
        requests_of(gen)  # no request at all: recover found the run
    assert str(done.value.value.ref) == "toy:made-before-death"
    assert len(Toy.recovered) == 1
    launched = ledger.get(record.key)
    assert launched is not None
    assert launched.ref == "toy:made-before-death"
    assert launched.claim_owner is None


def test_a_dead_holder_that_never_sent_is_taken_over_and_launched_once(ledger: Ledger) -> None:
    record = row(ledger)
    hold(ledger, record, dead_owner(), lease=LONG, sent=False)
    gen = tracked_launch(backend(), SPEC, record, ledger, lease=LONG)
    assert isinstance(gen, Generator)
    lookup = requests_of(gen)
    assert lookup.method == "GET"
    create = gen.send(answer(lookup))
    assert create.method == "POST"
    mid = ledger.get(record.key)
    assert mid is not None
    assert mid.attempted  # recorded before the create went out
    with pytest.raises(StopIteration):
        gen.send(answer(create))
    assert Toy.recovered == []  # never sent before: nothing to look for


def test_taking_over_an_expired_lease_waits_as_if_sent_at_its_end(ledger: Ledger) -> None:
    """A holder whose lease ran out (another host, alive or not) may have sent its
    create until the lease's end: not finding it is trusted only after the
    platform's settle time from then."""
    record = row(ledger)
    hold(ledger, record, "another-host/1/abc", lease=LONG, sent=True)
    long_ago, expired = time.time() - 3600, time.time() - 1
    set_columns(ledger, record.key, attempted_at=long_ago, sent_at=long_ago, claim_until=expired)
    gen = tracked_launch(backend(), SPEC, record, ledger, lease=LONG)
    assert isinstance(gen, Generator)
    with pytest.raises(Settling) as settling:
        requests_of(gen)
    assert not isinstance(settling.value, Claimed)
    assert settling.value.wait > 25  # 30 s settle from the lease's end, not from an hour ago
    assert len(Toy.recovered) == 1
    after = ledger.get(record.key)
    assert after is not None
    assert after.claim_owner is None  # released while settling: others may look too


def test_a_launch_that_lost_its_claim_sends_nothing_more(ledger: Ledger) -> None:
    record = row(ledger)
    gen = tracked_launch(backend(), SPEC, record, ledger, lease=LONG)
    assert isinstance(gen, Generator)
    lookup = requests_of(gen)  # this launch holds the row, and looks the pipeline up ...
    holder = ledger.get(record.key)
    assert holder is not None
    assert holder.claim_owner is not None
    # ... for longer than its lease; another host takes the row over meanwhile
    set_columns(ledger, record.key, claim_until=time.time() - 1)
    taken = ledger.claim(record, "another-host/1/new", LONG)
    assert taken.mine
    with pytest.raises(Claimed):
        gen.send(answer(lookup))  # the create is not sent
    after = ledger.get(record.key)
    assert after is not None
    assert (after.claim_owner, after.attempted) == ("another-host/1/new", False)


def test_batch_rows_get_the_same_key_in_every_ledger(tmp_path: Path) -> None:
    one = Ledger(tmp_path / "a.sqlite").intent("toy", "h", batch="b-1", row_key="r")
    two = Ledger(tmp_path / "b.sqlite").intent("toy", "h", batch="b-1", row_key="r")
    lone = Ledger(tmp_path / "a.sqlite").intent("toy", "h")
    assert one.key == two.key == launch_key("b-1", "r")
    assert launch_key("b-1", "r", attempt=2) != one.key
    assert lone.key != one.key
    assert len(lone.key) == len(one.key) == 32


def test_owner_ids_name_host_and_process_and_differ_per_launch() -> None:
    first, second = new_owner(), new_owner()
    assert first != second
    assert first.split("/")[:2] == second.split("/")[:2] == [this_host(), str(os.getpid())]
    assert alive(first)
    assert alive("elsewhere/1/x")
    assert alive("garbage")


async def test_launch_many_refuses_duplicate_row_keys(ledger: Ledger) -> None:
    plugins = Registry(backends={"toy": BackendInfo(Toy, "tests", None, None)})
    async with AsyncClient(plugins=plugins, ledger=ledger,
                           transport=httpx.MockTransport(answer)) as client:  # fmt: skip
        with pytest.raises(ValueError, match="distinct"):
            await client.launch_many([SPEC, SPEC], "toy", batch="b", row_keys=["r", "r"])
    assert ledger.batch("b") == []


class Unanswering(Toy):
    """A platform that could tell which keys it holds for a batch, but fails to."""

    def batch_keys(self, batch: str, specs: Any) -> Any:
        raise PlatformError("POST /search -> 503", status=503)


async def test_rows_are_not_sent_when_the_platform_cannot_say_what_it_holds(
    ledger: Ledger,
) -> None:
    plugins = Registry(backends={"toy": BackendInfo(Unanswering, "tests", None, None)})
    sent: list[str] = []

    def platform(request: httpx.Request) -> httpx.Response:
        sent.append(request.method)
        return answer(request)

    async with AsyncClient(plugins=plugins, ledger=ledger,
                           transport=httpx.MockTransport(platform)) as client:  # fmt: skip
        got = await client.launch_many(
            [SPEC, SPEC.with_overrides({"name": "two"})],
            "toy",
            batch="b",
            row_keys=["r1", "r2"],
            return_exceptions=True,
        )
    assert [type(g).__name__ for g in got] == ["PlatformError", "PlatformError"]
    assert "POST" not in sent
    assert all(not r.attempted for r in ledger.batch("b"))
