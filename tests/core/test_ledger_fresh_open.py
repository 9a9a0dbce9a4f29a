"""Several processes opening one fresh SQLite ledger at the same moment all succeed.

Switching a new file to WAL needs SQLite's exclusive lock; racing openers used to
get "database is locked" at once (SQLite skips its busy handler there), so two
runhub commands started together on a new machine could fail (seen in CI: one of
two `runhub batch` processes exited 2).
"""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

OPENERS = 6
TRIALS = 15


def _open(path: str, start: Any, results: Any) -> None:
    from runhub.ledger.sqlite import SqliteStore

    start.wait()
    try:
        store = SqliteStore(Path(path))
        store.close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_ledger_together_all_succeed(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    failures = []
    for trial in range(TRIALS):
        path = tmp_path / f"home-{trial}" / "ledger.sqlite"
        start, results = ctx.Barrier(OPENERS), ctx.Queue()
        procs = [
            ctx.Process(target=_open, args=(str(path), start, results)) for _ in range(OPENERS)
        ]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
        failures += [o for o in outcomes if o != "ok"]
    assert failures == []
