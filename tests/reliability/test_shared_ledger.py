"""A team's shared ledger on a real PostgreSQL server, with the emulators over HTTP.

Several ``runhub batch`` processes with separate homes (stand-ins for separate
machines) share one PostgreSQL ledger:

- launching the same batch at the same moment, 2-4 at a time, they make exactly one
  run per row, counted on the emulator's own state;
- a launcher killed while its creates are in flight, *on another machine* (its own
  pid namespace, so its death cannot be seen and only its lease ending frees its
  rows), is taken over after the lease by a launcher here: never launched twice;
- the database restarting in the middle of a batch is ridden out: every row once;
- a server unreachable at start stops the command with one line, nothing launched.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_scenario import template
from platforms import PLATFORMS, Platform, serve

from runhub.ledger import Ledger
from runhub.testing.pgserver import PASSWORD, TempPostgres, missing

N = 12
ROUNDS = (2, 3, 4)
HOLD = 0.25
# Short retries, so a killed launcher's lease (retry budget + request deadline + 30 s)
# ends within a test's patience.
QUICK = {"RUNHUB_RETRY_BUDGET": "1", "RUNHUB_REQUEST_DEADLINE": "2"}


class Gate:
    """Wraps an emulator app: each create waits ``hold`` s before reaching it; the
    ``at``-th create first calls ``then`` (a kill, a database restart)."""

    def __init__(self, platform: Platform, hold: float = HOLD) -> None:
        self.platform = platform
        self.app = platform.app
        self.hold = hold
        self.creates = 0
        self.at = 0
        self.then: Any = None
        self._lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.platform.is_create(request):
            with self._lock:
                self.creates += 1
                fire = self.then if self.creates == self.at else None
            if fire is not None:
                fire()
            time.sleep(self.hold)
        return self.app.handle(request)


def _write_batch(work: Path, name: str, first: int) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "tpl.yaml").write_text(template(name))
    rows = "".join(f"{first + i},fast\n" for i in range(N))
    (work / "sheet.csv").write_text("row,mode\n" + rows)


def _batch(
    platform: Platform,
    work: Path,
    home: str,
    url: str,
    *,
    prefix: list[str] | None = None,
    quick: bool = True,
) -> subprocess.Popen[str]:
    env = {**os.environ, **platform.env(), **(QUICK if quick else {})}
    env.update(RUNHUB_HOME=str(work / home), RUNHUB_CONFIG=str(work / "none.toml"))
    env["RUNHUB_LEDGER"] = url
    command = [sys.executable, "-m", "runhub.cli", "batch", "tpl.yaml", "sheet.csv"]
    return subprocess.Popen(
        [*(prefix or []), *command, "-o", "json", "-j", "2"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=240)
    runs = json.loads(out)["runs"] if out.strip() else []
    refs = [run["ref"] for run in sorted(runs, key=lambda r: r["row"])]
    return {"code": proc.returncode, "refs": refs, "err": err[-2000:]}


def _ledger_refs(url: str, batch_rows: int) -> list[str | None]:
    rows = Ledger(url).runs(limit=None)
    assert len(rows) == batch_rows, [(r.row_key, r.ref) for r in rows]
    return [r.ref for r in rows]


def concurrent_rounds(name: str, server: TempPostgres, tmp: Path) -> list[dict[str, Any]]:
    """ROUNDS rounds of k launchers (separate homes, one PostgreSQL ledger) at once."""
    done = []
    with serve(name, speed=50.0) as platform:
        gate = Gate(platform)
        platform.server.app = gate
        for index, processes in enumerate(ROUNDS):
            work = tmp / f"{name}-{index}"
            _write_batch(work, name, 100 * (index + 1))
            url = server.create_database(f"together_{name}_{index}")
            before = len(platform.created_ids())
            procs = [_batch(platform, work, f"home{p}", url) for p in range(processes)]
            results = [_finish(proc) for proc in procs]
            created = platform.created_ids()[before:]
            done.append({"k": processes, "results": results, "created": created,
                         "ledger": _ledger_refs(url, N)})  # fmt: skip
    return done


def killed_elsewhere(name: str, server: TempPostgres, tmp: Path) -> dict[str, Any]:
    """A launcher in another pid namespace (another machine, as claims see it) is
    killed at its 3rd create; a launcher here then runs the same batch."""
    work = tmp / f"killed-{name}"
    _write_batch(work, name, 1000)
    url = server.create_database(f"killed_{name}")
    with serve(name, speed=50.0) as platform:
        gate = Gate(platform, hold=0.5)
        platform.server.app = gate
        elsewhere = ["unshare", "--pid", "--fork", "--kill-child"]
        victim = _batch(platform, work, "home-a", url, prefix=elsewhere)
        gate.at, gate.then = 3, lambda: os.killpg(victim.pid, signal.SIGKILL)
        victim.communicate(timeout=240)
        held = [r for r in Ledger(url).runs(limit=None) if r.claim_owner and not r.ref]
        survivor = _finish(_batch(platform, work, "home-b", url))
        after = {r.key: r for r in Ledger(url).runs(limit=None)}
        return {
            "victim_code": victim.returncode,
            "held": len(held),
            "held_by_elsewhere": all(not r.claim_owner.startswith(_here()) for r in held),  # type: ignore[union-attr]
            # Taken over no earlier than the lease's end: a takeover raises the row's
            # latest send to the old lease's end, and a send after it is later still.
            "taken_after_lease": [
                (after[r.key].sent_at or 0) >= (r.claim_until or 0) for r in held
            ],
            "survivor": survivor,
            "created": platform.created_ids(),
            "ledger": _ledger_refs(url, N),
        }


def _here() -> str:
    from runhub.ledger.claims import this_host

    return this_host() + "/"


@pytest.fixture(scope="module")
def server() -> Iterator[TempPostgres]:
    """A server of this module's own: the restart test stops it."""
    why = missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {why}", pytrace=False)
        pytest.skip(why)
    with TempPostgres.start() as started:
        yield started


@pytest.fixture(scope="module")
def outcomes(server: TempPostgres, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("shared")
    with ThreadPoolExecutor(max_workers=2 * len(PLATFORMS)) as pool:
        together = {n: pool.submit(concurrent_rounds, n, server, tmp) for n in PLATFORMS}
        if shutil.which("unshare") is None:
            pytest.fail("unshare (util-linux) is needed to stand in for another machine")
        killed = {n: pool.submit(killed_elsewhere, n, server, tmp) for n in PLATFORMS}
        return {
            "together": {n: f.result(timeout=600) for n, f in together.items()},
            "killed": {n: f.result(timeout=600) for n, f in killed.items()},
        }


@pytest.mark.parametrize("name", PLATFORMS)
def test_launchers_on_separate_homes_make_exactly_one_run_per_row(
    name: str, outcomes: dict[str, Any]
) -> None:
    for got in outcomes["together"][name]:
        for result in got["results"]:
            assert result["code"] == 0, result["err"]
            assert len(result["refs"]) == N
            assert None not in result["refs"]
            assert PASSWORD not in result["err"]
        assert len(got["created"]) == N, (got["k"], len(got["created"]))
        assert len(set(got["created"])) == N
        first = sorted(got["results"][0]["refs"])
        assert all(sorted(r["refs"]) == first for r in got["results"])  # the same runs
        assert sorted(got["ledger"]) == first


@pytest.mark.parametrize("name", PLATFORMS)
def test_a_launcher_killed_on_another_machine_is_taken_over_after_its_lease(
    name: str, outcomes: dict[str, Any]
) -> None:
    got = outcomes["killed"][name]
    assert got["victim_code"] == -signal.SIGKILL
    assert got["held"] >= 1  # it died holding rows, with creates in flight
    assert got["held_by_elsewhere"]  # owners this host cannot judge: only the lease frees them
    assert all(got["taken_after_lease"])  # its rows were left alone until its lease ended
    assert got["survivor"]["code"] == 0, got["survivor"]["err"]
    assert len(got["created"]) == N, len(got["created"])  # never launched twice
    assert sorted(got["survivor"]["refs"]) == sorted(got["ledger"])


def test_the_database_restarting_mid_batch_launches_every_row_once(
    server: TempPostgres, outcomes: dict[str, Any], tmp_path: Path
) -> None:
    del outcomes  # after the shared rounds: this restart must not cut into them
    name = "ica"
    _write_batch(tmp_path, name, 5000)
    url = server.create_database("restarted")
    with serve(name, speed=50.0) as platform:
        gate = Gate(platform, hold=0.5)  # the batch outlasts the restart by seconds
        platform.server.app = gate
        restarted = threading.Event()

        def restart() -> None:
            server.restart(down_for=1.0)
            restarted.set()

        gate.at, gate.then = 2, lambda: threading.Thread(target=restart).start()
        # The default retry policy: while the ledger reconnects, answers in flight
        # wait for it (QUICK's 2 s deadline would give up on them: a re-run resumes).
        result = _finish(_batch(platform, tmp_path, "home", url, quick=False))
        mid_batch = restarted.is_set()  # down and up again before the batch ended
        assert restarted.wait(30)
        created = platform.created_ids()
    assert mid_batch
    assert result["code"] == 0, result["err"]
    assert len(result["refs"]) == N
    assert len(created) == N
    assert len(set(created)) == N
    assert len(_ledger_refs(url, N)) == N


def test_an_unreachable_ledger_stops_the_batch_before_anything_launches(tmp_path: Path) -> None:
    _write_batch(tmp_path, "ica", 7000)
    url = f"postgresql://runhub:{PASSWORD}@127.0.0.1:9/team"  # the discard port: refused
    with serve("ica") as platform:
        result = _finish(_batch(platform, tmp_path, "home", url))
        created = platform.created_ids()
    assert result["code"] == 2
    lines = result["err"].strip().splitlines()
    assert len(lines) == 1, result["err"]
    assert "cannot be reached" in lines[0]
    assert PASSWORD not in result["err"]
    assert created == []
