"""Crash safety: a batch launcher SIGKILLed at random moments, then run again,
ends with exactly N runs, each row mapped to one run.

The launcher is a real process: ``crash_driver.py`` (AsyncClient + Ledger, settings
from the environment) or ``runhub batch`` on a samplesheet; the emulator lives in the
test process, so its runs outlive the launcher. Two kinds of kill alternate:

- *between the request and the ledger write*: the emulator kills the launcher the
  moment it has created the k-th run of this round, before answering. The run
  exists; the ledger only knows the launch was attempted. Deterministic, and no
  test hook in runhub itself.
- *at a random moment*: a random delay after the launcher is ready (0-0.1 s), or
  after ``runhub batch`` starts (0.2-0.7 s, start-up included).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_scenario import template
from platforms import PLATFORMS, Platform, serve

from runhub.ledger import Ledger
from runhub.tracking import needs_recovery

N = 24
ROUNDS = 3  # kills per platform and way (2 at the emulator, 1 at random): 12 trials
SERVER_SIDE = len(range(0, ROUNDS, 2))
WAYS = ["library", "cli"]
DRIVER = Path(__file__).parent / "crash_driver.py"


class KillSwitch:
    """Wraps an emulator app: SIGKILLs ``pid`` right after the app created its
    ``kill_at``-th run of the round, before the answer leaves."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.app = platform.app
        self.pid: int | None = None
        self.kill_at = 0
        self.creates = 0
        #: creates whose launcher died before hearing: (request, answer) per kill
        self.orphans: list[tuple[httpx.Request, httpx.Response]] = []
        self._lock = threading.Lock()

    def arm(self, pid: int, kill_at: int) -> None:
        with self._lock:
            self.pid, self.kill_at, self.creates = pid, kill_at, 0

    def disarm(self) -> None:
        with self._lock:
            self.pid = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = self.app.handle(request)
        if self.platform.is_create(request) and response.status_code < 300:
            with self._lock:
                self.creates += 1
                if self.pid is not None and self.creates == self.kill_at:
                    os.kill(self.pid, signal.SIGKILL)
                    self.pid = None
                    self.orphans.append((request, response))
        return response


@dataclass
class Trials:
    """What the rounds did."""

    kills: int = 0
    between_request_and_ledger: int = 0
    unrecorded_after_kill: int = 0
    max_created_seen: int = 0
    log: list[str] = field(default_factory=list)


def _driver(platform: Platform, ledger: Path, batch: str, how: str) -> subprocess.Popen[str]:
    # ICA: chunks of 3, so a kill can land after the first, second or third batch
    env = {**os.environ, **platform.env(), "RUNHUB_ICA_CREATION_BATCH_SIZE": "3"}
    if how == "library":
        command = [sys.executable, str(DRIVER), platform.name, str(ledger), str(N), batch]
        cwd = None
    else:  # runhub batch, with its ledger in RUNHUB_HOME
        work = ledger.parent
        env["RUNHUB_HOME"] = str(work / "home")
        command = [
            sys.executable,
            "-m",
            "runhub.cli",
            "batch",
            "tpl.yaml",
            "sheet.csv",
            "-o",
            "json",
        ]
        cwd = work
    return subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _rows(ledger: Path, batch: str, how: str) -> list[Any]:
    if how == "library":
        return Ledger(ledger).batch(batch)
    return Ledger(ledger.parent / "home" / "ledger.sqlite").runs(limit=None)


def crash_rounds(name: str, how: str, tmp: Path, seed: int) -> dict[str, Any]:
    """ROUNDS killed launches of one batch, then one that finishes."""
    rng = random.Random(seed)
    work = tmp / f"{name}-{how}"
    work.mkdir()
    ledger = work / "ledger.sqlite"
    batch = f"crash-{name}"
    (work / "tpl.yaml").write_text(template(name))
    (work / "sheet.csv").write_text("row,mode\n" + "".join(f"{i},fast\n" for i in range(N)))
    trials = Trials()
    with serve(name, speed=50.0) as platform:
        switch = KillSwitch(platform)
        platform.server.app = switch
        for round_ in range(ROUNDS):
            proc = _driver(platform, ledger, batch, how)
            assert proc.stdout is not None
            if how == "library":
                assert proc.stdout.readline().strip() == "ready", proc.stderr
            server_side = round_ % 2 == 0
            if server_side:
                switch.arm(proc.pid, kill_at=rng.randint(1, 3))
                proc.wait(timeout=60)
                switch.disarm()
            else:  # the CLI prints nothing before launching: allow for its start-up
                delay = rng.uniform(0.0, 0.1) if how == "library" else rng.uniform(0.2, 0.7)
                try:
                    proc.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    proc.send_signal(signal.SIGKILL)
                    proc.wait(timeout=60)
            proc.communicate()
            killed = proc.returncode == -signal.SIGKILL
            trials.kills += killed
            if killed and server_side:
                trials.between_request_and_ledger += 1
                rows = _rows(ledger, batch, how)
                trials.unrecorded_after_kill += sum(1 for r in rows if needs_recovery(r))
            trials.max_created_seen = max(trials.max_created_seen, len(platform.created_ids()))
            trials.log.append(f"round {round_}: rc={proc.returncode}")
        proc = _driver(platform, ledger, batch, how)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (out, err)
        if how == "library":
            refs = out.split("done", 1)[1].split()
        else:
            refs = [run["ref"] for run in json.loads(out)["runs"]]
        rows = _rows(ledger, batch, how)
        return {
            "trials": trials,
            "created": platform.created_ids(),
            "refs": [platform.run_id(_parse(r)) for r in refs],
            "rows": [(r.row_key, r.ref) for r in rows],
            # each kill's runs (a creation batch's are created after its answer)
            "orphans": [platform.created_by(*pair) for pair in switch.orphans],
        }


def _parse(text: str) -> Any:
    from runhub.backend import RunRef

    return RunRef.parse(text)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("crash")
    series = [(n, how) for how in WAYS for n in PLATFORMS]
    with ThreadPoolExecutor(max_workers=len(series)) as pool:
        futures = {
            f"{n}-{how}": pool.submit(crash_rounds, n, how, tmp, i)
            for i, (n, how) in enumerate(series)
        }
        yield {key: f.result(timeout=300) for key, f in futures.items()}


@pytest.mark.parametrize("how", WAYS)
@pytest.mark.parametrize("name", PLATFORMS)
def test_killed_launcher_rerun_ends_with_exactly_n_runs(
    name: str, how: str, outcomes: dict[str, Any]
) -> None:
    got = outcomes[f"{name}-{how}"]
    trials: Trials = got["trials"]
    assert trials.kills >= SERVER_SIDE, trials.log
    assert trials.max_created_seen <= N
    created = got["created"]
    assert len(created) == N
    assert len(set(created)) == N
    assert sorted(got["refs"]) == sorted(created)
    rows = got["rows"]
    assert len(rows) == N
    assert len({row for row, _ in rows}) == N
    refs = [ref for _, ref in rows]
    assert None not in refs
    assert len(set(refs)) == N
    assert {_parse(r).id.rpartition("/")[2] for r in refs} == set(created)


@pytest.mark.parametrize("how", WAYS)
@pytest.mark.parametrize("name", PLATFORMS)
def test_runs_created_while_the_launcher_died_are_adopted(
    name: str, how: str, outcomes: dict[str, Any]
) -> None:
    got = outcomes[f"{name}-{how}"]
    trials: Trials = got["trials"]
    assert trials.between_request_and_ledger == SERVER_SIDE
    # each such kill left a row attempted but without its run in the ledger ...
    assert trials.unrecorded_after_kill >= trials.between_request_and_ledger
    # ... and the run it had created was adopted by a later launch, not duplicated
    assert len(got["orphans"]) == SERVER_SIDE
    assert all(got["orphans"])
    assert {run for kill in got["orphans"] for run in kill} <= set(got["refs"])


def test_at_least_ten_kill_trials(outcomes: dict[str, Any]) -> None:
    assert sum(o["trials"].kills for o in outcomes.values()) >= 10
