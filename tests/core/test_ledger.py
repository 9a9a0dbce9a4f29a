"""The ledger: intents before requests, resumable batches, several processes at once."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from runhub.backend import RunRef
from runhub.client import AsyncClient, Client
from runhub.errors import AmbiguousLaunch, LedgerError
from runhub.ledger import MIGRATIONS, Intent, Ledger
from runhub.plugins import Registry
from runhub.spec import RunSpec
from runhub.state import RunState, RunStatus

from .conftest import SECRET, ToyBackend


def _intent_in_process(path: str, row: str, out: Any) -> None:
    out.put(Ledger(path).intent("toy", "h", batch="b1", row_key=row).key)


def test_intent_is_recorded_once_per_batch_row(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    first = ledger.intent("toy", "hash", batch="b1", row_key="r1", name="n")
    again = ledger.intent("toy", "hash", batch="b1", row_key="r1", name="n")
    other = ledger.intent("toy", "hash", batch="b1", row_key="r2")
    assert first.key == again.key
    assert other.key != first.key
    assert not first.launched
    assert ledger.schema_version == len(MIGRATIONS)


def test_several_processes_agree_on_one_key_per_row(tmp_path: Path) -> None:
    path = str(tmp_path / "l.sqlite")
    Ledger(path)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_intent_in_process, args=(path, "row-7", out)) for _ in range(4)]
    for p in procs:
        p.start()
    keys = {out.get(timeout=60) for _ in procs}
    for p in procs:
        p.join(timeout=60)
    assert len(keys) == 1
    assert len(Ledger(path).batch("b1")) == 1


def test_launched_failed_observe_and_filters(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    a = ledger.intent("toy", "h", batch="b", row_key="1")
    b = ledger.intent("other", "h", batch="b", row_key="2")
    ledger.attempt(a.key)
    ledger.launched(a.key, RunStatus(RunRef("toy", "r1"), RunState.RUNNING, "running"))
    ledger.failed(b.key, "no such pipeline")
    ledger.observe([RunStatus(RunRef("toy", "r1"), RunState.SUCCEEDED, "done")])
    got = ledger.get(a.key)
    assert got is not None
    assert (got.ref, got.state, got.attempts) == ("toy:r1", "SUCCEEDED", 1)
    assert ledger.by_ref("toy:r1") == got
    assert [r.key for r in ledger.runs(backend="other")] == [b.key]
    assert [r.key for r in ledger.runs(state="SUCCEEDED")] == [a.key]
    assert ledger.claimed("toy") == frozenset({"r1"})
    assert ledger.runs(since=time.time() + 60) == []
    assert got.to_dict()["ref"] == "toy:r1"


def test_prune_removes_only_old_terminal_runs(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite")
    done = ledger.intent("toy", "h")
    running = ledger.intent("toy", "h")
    ledger.launched(done.key, RunStatus(RunRef("toy", "1"), RunState.SUCCEEDED))
    ledger.launched(running.key, RunStatus(RunRef("toy", "2"), RunState.RUNNING))
    assert ledger.prune(time.time() + 1) == 1
    assert [r.key for r in ledger.runs()] == [running.key]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.sqlite"
    Ledger(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(LedgerError, match="newer than this runhub"):
        Ledger(path)


class Platform:
    """Creates runs on POST; can drop the connection after creating one."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.drop_after_next_create = False

    def handle(self, req: httpx.Request) -> httpx.Response:
        if req.method == "POST":
            run_id = f"r{len(self.created) + 1}"
            self.created.append(run_id)
            if self.drop_after_next_create:
                self.drop_after_next_create = False
                raise httpx.RemoteProtocolError("dropped", request=req)
            return httpx.Response(201, json={"id": run_id, "state": "running"})
        if req.url.path.startswith("/runs/"):
            return httpx.Response(200, json={"id": req.url.path[6:], "state": "running"})
        return httpx.Response(200, json={})


class RecoveringToy(ToyBackend):
    """Adopts the newest unclaimed run, as a key-less platform's lookup would."""

    platform: Platform

    def recover(self, spec: RunSpec, key: str, *, since: float, claimed: frozenset[str]) -> Any:
        for run_id in reversed(self.platform.created):
            if run_id not in claimed:
                return RunStatus(RunRef(self.name, run_id), RunState.RUNNING, "running")
        return None


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Platform, Registry, Ledger]:
    platform = Platform()
    RecoveringToy.platform = platform
    from runhub.plugins import BackendInfo

    plugins = Registry(backends={"toy": BackendInfo(RecoveringToy, "tests", None, None)})
    return platform, plugins, Ledger(tmp_path / "ledger.sqlite")


def test_crash_between_request_and_ledger_write_is_recovered(setup: Any) -> None:
    platform, plugins, ledger = setup
    transport = httpx.MockTransport(platform.handle)
    spec = RunSpec(pipeline="p")
    with Client(
        settings={"toy": {"token": SECRET}}, transport=transport, plugins=plugins, ledger=ledger
    ) as c:
        platform.drop_after_next_create = True
        with pytest.raises(AmbiguousLaunch):
            c.launch(spec, "toy", batch="b", row_key="row-1")
        assert platform.created == ["r1"]
        again = c.launch(spec, "toy", batch="b", row_key="row-1")
        assert str(again.ref) == "toy:r1"
        third = c.launch(spec, "toy", batch="b", row_key="row-1")
        assert str(third.ref) == "toy:r1"
    assert platform.created == ["r1"]
    assert [r.ref for r in ledger.batch("b")] == ["toy:r1"]


async def test_launch_many_resumes_only_unlaunched_rows(setup: Any) -> None:
    platform, plugins, ledger = setup
    transport = httpx.MockTransport(platform.handle)
    specs = [RunSpec(pipeline="p", name=f"s{i}") for i in range(6)]
    rows = [f"row-{i}" for i in range(6)]
    async with AsyncClient(
        settings={"toy": {"token": SECRET}}, transport=transport, plugins=plugins, ledger=ledger
    ) as client:
        await client.launch_many(specs[:3], "toy", batch="b", row_keys=rows[:3])
        assert len(platform.created) == 3
        platform.drop_after_next_create = True
        results = await client.launch_many(
            specs, "toy", batch="b", row_keys=rows, concurrency=1, return_exceptions=True
        )
        assert sum(isinstance(r, AmbiguousLaunch) for r in results) == 1
        final = await client.launch_many(specs, "toy", batch="b", row_keys=rows)
    assert len(platform.created) == 6
    assert sorted(str(s.ref) for s in final) == sorted(f"toy:r{i}" for i in range(1, 7))
    assert all(r.launched for r in ledger.batch("b"))


def test_a_v1_ledger_is_migrated_forward_keeping_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0])
        db.execute(
            "INSERT INTO launches (key, backend, spec_hash, ref, created_at, updated_at)"
            " VALUES ('k1', 'toy', 'h', 'toy:r1', 1.0, 1.0)"
        )
        db.execute("PRAGMA user_version = 1")
    ledger = Ledger(path)
    assert ledger.schema_version == len(MIGRATIONS) == 6
    old = ledger.get("k1")
    assert old is not None
    assert old.ref == "toy:r1"
    assert old.ref_group is None
    ledger.launched("k1", RunStatus(RunRef("toy", "r1", "capsules/c1"), RunState.RUNNING))
    ref = ledger.get("k1").run_ref()  # type: ignore[union-attr]
    assert ref is not None
    assert ref.batch == "capsules/c1"


def test_single_status_calls_update_the_ledger(setup: Any) -> None:
    platform, plugins, ledger = setup
    transport = httpx.MockTransport(platform.handle)
    with Client(
        settings={"toy": {"token": SECRET}}, transport=transport, plugins=plugins, ledger=ledger
    ) as client:
        launched = client.launch(RunSpec(pipeline="p"), "toy")
        ledger.observe([RunStatus(launched.ref, RunState.QUEUED, "queued")])
        client.status(launched.ref)
    record = ledger.by_ref(str(launched.ref))
    assert record is not None
    assert record.state == "RUNNING"


def test_intents_records_many_rows_at_once_and_reattaches_known_ones(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    first = ledger.intents([Intent("toy", "h", "b1", str(i), f"run {i}") for i in range(3)])
    again = ledger.intents([Intent("toy", "h", "b1", str(i)) for i in range(1, 5)])
    assert [r.row_key for r in again] == ["1", "2", "3", "4"]
    assert [r.key for r in again[:2]] == [r.key for r in first[1:]]  # same rows, same keys
    assert len({r.key for r in first + again}) == 5
    assert first[0].name == "run 0"
    loose = ledger.intents([Intent("toy", "h"), Intent("toy", "h")])
    assert loose[0].key != loose[1].key  # without a batch row, every intent is new
