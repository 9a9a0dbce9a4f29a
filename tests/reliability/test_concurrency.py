"""Concurrent batches: several launchers on one samplesheet at the same moment,
sharing one ledger, launch each row exactly once (counted on the emulator).

Per platform, over HTTP on 127.0.0.1: TRIALS rounds of 2-4 ``runhub batch``
processes started together, and LIBRARY rounds of two ``crash_driver.py``
processes (``AsyncClient.launch_many``). Every create is held HOLD s before the
emulator sees it, so the launchers' lifetimes overlap and they contend for the
same rows. Checked each round: every process exits 0 and reports every row with
a run (no NOT LAUNCHED, on ICA neither after a 409); all processes report the same
run per row; the emulator created exactly N runs; the ledger maps each row to one.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_scenario import template
from platforms import ICA_KEY, PLATFORMS, Platform, client, serve
from runhub_ica.emulator import seed

from runhub.backend import RunRef
from runhub.ledger import Ledger
from runhub.ledger.claims import this_host
from runhub.state import RunStatus

N = 12
#: Processes per ``runhub batch`` round.
TRIALS = (2, 3, 4, 2, 3)
LIBRARY = 1
HOLD = 0.25
DRIVER = Path(__file__).parent / "crash_driver.py"


class Hold:
    """Wraps an emulator app: every create waits ``HOLD`` s before it reaches it."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.app = platform.app
        self.creates = 0
        self._lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.platform.is_create(request):
            time.sleep(HOLD)
            with self._lock:
                self.creates += 1
        return self.app.handle(request)


@dataclass
class Round:
    """One round: who ran, what each reported, what the emulator created."""

    how: str
    processes: int
    codes: list[int] = field(default_factory=list)
    reported: list[list[str | None]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    ledger_refs: list[str | None] = field(default_factory=list)


def _cli_round(platform: Platform, work: Path, processes: int, first: int) -> Round:
    # Rows differ from every other round's (numbers from ``first``): on Code Ocean a
    # lost answer is found again by what the run was asked to do, as in real use.
    (work / "tpl.yaml").write_text(template(platform.name))
    rows = "".join(f"{first + i},fast\n" for i in range(N))
    (work / "sheet.csv").write_text("row,mode\n" + rows)
    env = {**os.environ, **platform.env(), "RUNHUB_HOME": str(work / "home")}
    env["RUNHUB_CONFIG"] = str(work / "none.toml")
    command = [sys.executable, "-m", "runhub.cli", "batch", "tpl.yaml", "sheet.csv"]
    procs = [
        subprocess.Popen(
            [*command, "-o", "json", "-j", "2"],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    got = Round("cli", processes)
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        got.codes.append(proc.returncode)
        got.errors.append(err[-2000:])
        runs = json.loads(out)["runs"] if out.strip() else []
        got.reported.append([run["ref"] for run in sorted(runs, key=lambda r: r["row"])])
    got.ledger_refs = [r.ref for r in Ledger(work / "home" / "ledger.sqlite").runs(limit=None)]
    return got


def _library_round(platform: Platform, work: Path, processes: int, first: int) -> Round:
    del first  # crash_driver.py launches rows 0..N-1; the CLI rounds start at 100
    ledger = work / "ledger.sqlite"
    env = {**os.environ, **platform.env(), "RUNHUB_HOME": str(work / "home")}
    batch = f"together-{platform.name}"
    command = [sys.executable, str(DRIVER), platform.name, str(ledger), str(N), batch]
    procs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(processes)
    ]
    got = Round("library", processes)
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        got.codes.append(proc.returncode)
        got.errors.append(err[-2000:] + out[-500:])
        done = out.split("done", 1)[1].split() if "done" in out else []
        got.reported.append(list(done))
    got.ledger_refs = [r.ref for r in Ledger(ledger).batch(batch)]
    return got


def rounds(name: str, tmp: Path) -> list[Round]:
    """Every round on platform ``name``, one emulator for all of them."""
    done: list[Round] = []
    with serve(name, speed=50.0) as platform:
        hold = Hold(platform)
        platform.server.app = hold
        plan = [("cli", k) for k in TRIALS] + [("library", 2)] * LIBRARY
        for index, (how, processes) in enumerate(plan):
            work = tmp / f"{name}-{index}"
            work.mkdir()
            before = len(platform.created_ids())
            runner = _cli_round if how == "cli" else _library_round
            got = runner(platform, work, processes, 100 * (index + 1))
            got.created = platform.created_ids()[before:]
            done.append(got)
    return done


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[Round]]]:
    tmp = tmp_path_factory.mktemp("together")
    with ThreadPoolExecutor(max_workers=len(PLATFORMS)) as pool:
        futures = {name: pool.submit(rounds, name, tmp) for name in PLATFORMS}
        yield {name: f.result(timeout=600) for name, f in futures.items()}


def _ids(platform: str, refs: list[str | None]) -> list[str | None]:
    def one(ref: str | None) -> str | None:
        if ref is None:
            return None
        run = RunRef.parse(ref).id
        return run.rpartition("/")[2] if platform == "ica" else run

    return [one(r) for r in refs]


@pytest.mark.parametrize("name", PLATFORMS)
def test_every_launcher_exits_0_reporting_every_row(
    name: str, outcomes: dict[str, list[Round]]
) -> None:
    for got in outcomes[name]:
        assert got.codes == [0] * got.processes, (got.how, got.errors)
        for reported in got.reported:
            assert len(reported) == N, (got.how, got.errors)
            assert None not in reported  # no row NOT LAUNCHED (on ICA: not after a 409)


@pytest.mark.parametrize("name", PLATFORMS)
def test_exactly_one_run_per_row_counted_on_the_emulator(
    name: str, outcomes: dict[str, list[Round]]
) -> None:
    for got in outcomes[name]:
        assert len(got.created) == N, (got.how, got.processes, len(got.created))
        assert len(set(got.created)) == N
        first = got.reported[0]
        assert all(sorted(r, key=str) == sorted(first, key=str) for r in got.reported)
        assert sorted(_ids(name, first), key=str) == sorted(got.created)
        assert len(got.ledger_refs) == N
        assert sorted(_ids(name, got.ledger_refs), key=str) == sorted(got.created)


def test_at_least_ten_concurrent_trials(outcomes: dict[str, list[Round]]) -> None:
    trials = [got for series in outcomes.values() for got in series]
    assert len(trials) >= 10
    assert {got.processes for got in trials} == {2, 3, 4}


def test_ica_a_row_held_elsewhere_is_waited_for_not_reported_after_409(tmp_path: Path) -> None:
    """Another process holds the row and its create is in flight at ICA (a request
    with that key gets 409): this launcher sends nothing, waits, and re-attaches to
    that process's run once it is recorded, instead of ending NOT LAUNCHED."""
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    with serve("ica") as platform:
        spec = platform.spec(0)
        record = ledger.intent("ica", spec.digest(), batch="held", row_key="r0", name=spec.name)
        other = f"{this_host()}/{os.getpid()}/another-launcher"
        assert ledger.claim(record, other, 600).mine
        assert ledger.sent(record.key, other, 600)
        create = f"/ica/rest/api/projects/{seed.PROJECT_ID}/analysis:nextflow"
        platform.app.begin_in_flight(create, record.key, platform.app.user_of(ICA_KEY), "{}")
        got: list[Any] = []

        async def second() -> None:
            async with client(platform, Ledger(path)) as c:
                got.extend(
                    await c.launch_many(
                        [spec], batch="held", row_keys=["r0"], return_exceptions=True
                    )
                )

        waiter = threading.Thread(target=asyncio.run, args=(second(),))
        waiter.start()
        waiter.join(timeout=1.0)  # meanwhile it polls the ledger (or, before: got 409s)
        platform.app.forget_idempotency()  # the first process's create completes ...

        async def first() -> RunStatus:
            async with client(platform, False) as c:
                return await c.launch(spec, key=record.key, batch="held")

        theirs = asyncio.run(first())
        ledger.launched(record.key, theirs)  # ... and it records its answer
        waiter.join(timeout=60)
        assert not waiter.is_alive()
    assert [type(g).__name__ for g in got] == ["RunStatus"], got
    assert got[0].ref == theirs.ref
    assert len(platform.app.analyses) == 1
