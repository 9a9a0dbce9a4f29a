"""Disk full: a run is never launched when its record cannot be written; when its
result cannot be written, the launches stop at once with one line, and the same
command run again adopts the run.

Two ways to fill the disk:

- a real limit: ``runhub batch`` processes with RLIMIT_FSIZE set, so the ledger's
  writes fail in the kernel (EFBIG, SQLite's "disk I/O error") at whatever point
  the limit falls; counted on the emulators over HTTP;
- at the SQLite layer, at chosen statements: a connection that answers SQLite's
  own "database or disk is full" to them (intent, send, or result).
"""

from __future__ import annotations

import json
import os
import re
import resource
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_scenario import template
from platforms import CO_TOKEN, PLATFORMS, Platform, registry, serve
from rows import POLICY
from runhub_codeocean.emulator import CodeOceanEmulator

from runhub.aio import AsyncClient
from runhub.errors import LedgerError
from runhub.ledger import Ledger
from runhub.ledger.sqlite import BUSY_TIMEOUT, SqliteStore
from runhub.state import RunStatus
from runhub.testing.emulator import Clock, mock_transport

N = 8
#: RLIMIT_FSIZE values (bytes): a fresh ledger's -wal grows past each at a
#: different moment (while opening, recording intents, or between launches).
LIMITS = (32_768, 65_536, 131_072, 163_840)


class Filling(sqlite3.Connection):
    """A connection whose statements matching ``full`` fail as on a full disk."""

    full: re.Pattern[str] | None = None
    after = 0  # let this many matching statements through first

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:  # type: ignore[override]
        if Filling.full is not None and Filling.full.search(sql):
            if Filling.after <= 0:
                raise sqlite3.OperationalError("database or disk is full")
            Filling.after -= 1
        return super().execute(sql, *args)


class FullDisk(SqliteStore):
    """The SQLite store on a connection that can be made to fill up."""

    @property
    def connection(self) -> sqlite3.Connection:
        if self._conn is None:
            db = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
                factory=Filling,
            )
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            self._conn = db
        return self._conn


INTENT = re.compile(r"^INSERT INTO launches")
SEND = re.compile(r"attempts = attempts \+ 1")
RESULT = re.compile(r"SET ref = \?")


@pytest.fixture
def emulator() -> Iterator[CodeOceanEmulator]:
    Filling.full, Filling.after = None, 0
    yield CodeOceanEmulator(token=CO_TOKEN, clock=Clock(50.0))
    Filling.full = None


async def launch(app: CodeOceanEmulator, path: Path, *, concurrency: int = 1) -> list[Any]:
    """The batch's N rows through launch_many, on a ledger that may fill up."""
    from rows import spec_for

    settings = {"codeocean": {"url": "http://127.0.0.1:9", "api_token": CO_TOKEN}}
    ledger = Ledger(store=FullDisk(path))
    async with AsyncClient(
        settings=settings,
        transport=mock_transport(app),
        plugins=registry(),
        policy=POLICY,
        ledger=ledger,
    ) as client:
        return await client.launch_many(
            [spec_for("codeocean", i) for i in range(N)],
            batch="full",
            row_keys=[f"r{i}" for i in range(N)],
            concurrency=concurrency,
            return_exceptions=True,
        )


def age_attempts(path: Path) -> None:
    """As if the re-run came later than the platform's settle time."""
    with Ledger(path) as ledger:
        ledger._db().execute(
            "UPDATE launches SET attempted_at = attempted_at - 60, sent_at = sent_at - 60"
        )


async def test_no_intent_no_launch(emulator: CodeOceanEmulator, tmp_path: Path) -> None:
    Filling.full = INTENT
    with pytest.raises(LedgerError, match="disk is full"):
        await launch(emulator, tmp_path / "ledger.sqlite")
    assert emulator.created == []


async def test_no_recorded_send_no_request(emulator: CodeOceanEmulator, tmp_path: Path) -> None:
    Filling.full, Filling.after = SEND, 4  # two sends per row: the create, then its name
    with pytest.raises(LedgerError, match="disk is full"):
        await launch(emulator, tmp_path / "ledger.sqlite")
    assert len(emulator.created) == 2  # the third row's create was never sent
    Filling.full = None
    again = await launch(emulator, tmp_path / "ledger.sqlite")
    assert all(isinstance(s, RunStatus) for s in again)
    assert len(emulator.created) == N


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_result_that_cannot_be_written_stops_at_once_and_is_adopted(
    emulator: CodeOceanEmulator, tmp_path: Path, concurrency: int
) -> None:
    path = tmp_path / "ledger.sqlite"
    Filling.full, Filling.after = RESULT, 1
    with pytest.raises(LedgerError, match=r"disk is full.*run the same command again"):
        await launch(emulator, path, concurrency=concurrency)
    stopped_at = len(emulator.created)
    assert 2 <= stopped_at <= 1 + concurrency + 1  # in flight when it stopped, no more
    unrecorded = emulator.created[1]  # its result could not be written
    Filling.full = None
    age_attempts(path)
    again = await launch(emulator, path)
    assert len(emulator.created) == N  # every row once: the unrecorded run adopted
    refs = {s.ref.id for s in again if isinstance(s, RunStatus)}
    assert unrecorded in refs
    assert refs == set(emulator.created)


# -- a real limit on file size, through the command line ---------------------------


def _batch(platform: Platform, work: Path, limit: int | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **platform.env(), "RUNHUB_HOME": str(work / "home")}
    env["RUNHUB_CONFIG"] = str(work / "none.toml")

    def cap() -> None:
        if limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run(
        [
            sys.executable,
            "-m",
            "runhub.cli",
            "batch",
            "tpl.yaml",
            "sheet.csv",
            "-o",
            "json",
            "-j",
            "2",
            # one create per run, so the disk fills between them (a creation batch
            # would create all N rows' runs at once)
            "--no-creation-batch",
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=cap,
        timeout=120,
    )


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Each platform, each limit: the capped run, then the same command uncapped."""
    found: dict[str, list[dict[str, Any]]] = {}
    for name in PLATFORMS:
        found[name] = []
        with serve(name, speed=50.0) as platform:
            for trial, limit in enumerate(LIMITS):
                work = tmp_path_factory.mktemp(f"{name}-{limit}")
                (work / "tpl.yaml").write_text(template(name))
                # rows apart from other trials': Code Ocean finds a lost run by its inputs
                rows = "".join(f"{100 * (trial + 1) + i},fast\n" for i in range(N))
                (work / "sheet.csv").write_text("row,mode\n" + rows)
                before = len(platform.created_ids())
                capped = _batch(platform, work, limit)
                created = len(platform.created_ids()) - before
                with Ledger(work / "home" / "ledger.sqlite") as ledger:
                    attempted = sum(1 for r in ledger.runs(limit=None) if r.attempted)
                again = _batch(platform, work, None)
                found[name].append(
                    {
                        "limit": limit,
                        "capped": capped,
                        "created_capped": created,
                        "attempted": attempted,
                        "again": again,
                        "created": len(platform.created_ids()) - before,
                        "refs": [
                            r["ref"] for r in json.loads(again.stdout or "{}").get("runs", [])
                        ],
                    }
                )
    return found


@pytest.mark.parametrize("name", PLATFORMS)
def test_a_full_disk_stops_the_batch_with_one_line_and_launches_nothing_unrecorded(
    name: str, limited: dict[str, list[dict[str, Any]]]
) -> None:
    stopped = 0
    for trial in limited[name]:
        capped = trial["capped"]
        if capped.returncode == 0:
            continue  # the limit was not reached
        stopped += 1
        assert capped.returncode == 2, capped.stderr
        lines = [line for line in capped.stderr.splitlines() if line.startswith("runhub: error:")]
        assert len(lines) == 1, capped.stderr
        assert "Traceback" not in capped.stderr
        assert "ledger " in lines[0], lines[0]
        assert "disk" in lines[0], lines[0]
        # every run the platform created had its send recorded first
        assert trial["created_capped"] <= trial["attempted"], trial
    assert stopped >= 3


@pytest.mark.parametrize("name", PLATFORMS)
def test_the_same_command_then_ends_with_exactly_one_run_per_row(
    name: str, limited: dict[str, list[dict[str, Any]]]
) -> None:
    for trial in limited[name]:
        assert trial["again"].returncode == 0, trial["again"].stderr
        assert trial["created"] == N, trial
        assert len(set(trial["refs"])) == N
    assert any(0 < t["created_capped"] < N for t in limited[name])  # stopped mid-batch
