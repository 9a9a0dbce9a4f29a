"""The ledger's two stores: how fast launches are recorded, and a race on one batch.

1. *Recording*: N launches written one after another the way every launch writes
   them (intent, claim, sent, result: four transactions), on SQLite and on
   PostgreSQL (a local server started for the bench with PostgreSQL's durable
   defaults, and the same with ``synchronous_commit=off`` set in the URL).
2. *Race*: K launcher processes start the same R-row batch at the same moment on
   one ledger (``AsyncClient.launch_many`` on the ICA emulator, served over HTTP
   by its own process, bench/_serve.py): wall time, conflicts (a launcher finding a row held by
   another), and the count check: exactly R runs on the emulator.

Usage: python bench/ledger.py [--n 10000] [--rows 1000] [--processes 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# rows.py: the reliability suite's row specs (a sample number in each row's parameters).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "reliability"))

from _common import table, write

from runhub.ledger import Intent, Launch, Ledger
from runhub.ledger.claims import Claim
from runhub.ledger.store import Result
from runhub.testing.pgserver import TempPostgres

BATCH = "bench-race"
ASYNC_COMMIT = "?options=-c%20synchronous_commit%3Doff"


def record(location: str, n: int) -> dict[str, Any]:
    """Seconds to record ``n`` launches (intent, claim, sent, result) in sequence."""
    with Ledger(location) as ledger:
        started = time.perf_counter()
        for i in range(n):
            (row,) = ledger.intents([Intent("ica", f"h{i}", "bench", f"r{i}", f"row {i}")])
            owner = f"bench/1/{i}"
            assert ledger.claim(row, owner, 600).mine
            assert ledger.sent(row.key, owner, 600)
            ledger.store.launched(row.key, Result(f"ica:p/{i}", None, "QUEUED", "q", None), 0.0)
        seconds = time.perf_counter() - started
        launched = ledger.store.counts()["launched"]
    assert launched == n, launched
    return {
        "launches": n,
        "seconds": round(seconds, 2),
        "launches_per_s": round(n / seconds),
        "ms_per_launch": round(1000 * seconds / n, 3),
    }


class CountingLedger(Ledger):
    """A ledger that counts what its claims found (for the race's conflict figure)."""

    won = held = found_launched = 0

    def claim(self, record: Launch, owner: str, lease: float) -> Claim:
        got = super().claim(record, owner, lease)
        if got.mine:
            CountingLedger.won += 1
        elif got.launched:
            CountingLedger.found_launched += 1
        else:
            CountingLedger.held += 1
        return got


def worker(backend_url: str, location: str, rows: int) -> None:
    """One racing launcher: the whole batch through launch_many, default policy."""
    from _workloads import plugins, settings
    from rows import spec_for

    from runhub.aio import AsyncClient

    async def go() -> int:
        ledger = CountingLedger(location)
        async with AsyncClient(
            settings=settings("ica", backend_url), plugins=plugins(), ledger=ledger
        ) as c:
            specs = [spec_for("ica", i) for i in range(rows)]
            keys = [f"row-{i}" for i in range(rows)]
            done = await c.launch_many(specs, batch=BATCH, row_keys=keys, concurrency=16)
        ledger.close()
        return len(done)

    done = asyncio.run(go())
    print(json.dumps({"done": done, "won": CountingLedger.won, "held": CountingLedger.held,
                      "found_launched": CountingLedger.found_launched}))  # fmt: skip


def race(location: str, rows: int, processes: int) -> dict[str, Any]:
    """``processes`` launchers on one ``rows``-row batch at the same moment."""
    from _common import Emulator

    Ledger(location).close()  # created (migrated) before the race
    with Emulator("ica", speed=50.0) as emu:
        command = [sys.executable, __file__, "--worker", emu.url, location, str(rows)]
        started = time.perf_counter()
        procs = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
                 for _ in range(processes)]  # fmt: skip
        reports = [json.loads(p.communicate()[0] or "{}") for p in procs]
        seconds = time.perf_counter() - started
        created = emu.stats()["runs"]
    refs = [r.ref for r in Ledger(location).batch(BATCH)]
    assert created == rows, (created, rows)
    assert None not in refs
    assert len(set(refs)) == rows
    return {
        "processes": processes,
        "rows": rows,
        "seconds": round(seconds, 2),
        "runs_created": created,
        "rows_reported": [r.get("done") for r in reports],
        "launched_by_process": [r.get("won") for r in reports],
        "conflicts": sum(r.get("held", 0) for r in reports),
        "found_launched": sum(r.get("found_launched", 0) for r in reports),
        "exit_codes": [p.returncode for p in procs],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--processes", type=int, default=4)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="runhub-bench-ledger-"))
    results: dict[str, Any] = {"recording": {}, "race": {}}
    with TempPostgres.start(durable=True) as server:
        stores = {
            "sqlite": lambda name: str(tmp / f"{name}.sqlite"),
            "postgresql": server.create_database,
            "postgresql, synchronous_commit=off": lambda name: (
                server.create_database(name) + ASYNC_COMMIT
            ),
        }
        for index, (store, make) in enumerate(stores.items()):
            results["recording"][store] = record(make(f"rec{index}"), args.n)
        for index, store in enumerate(("sqlite", "postgresql")):
            results["race"][store] = race(stores[store](f"race{index}"), args.rows, args.processes)
    print(f"Recording {args.n} launches (intent, claim, sent, result), one after another")
    print(table(("store", "seconds", "launches/s", "ms/launch"),
                [(s, r["seconds"], r["launches_per_s"], r["ms_per_launch"])
                 for s, r in results["recording"].items()]))  # fmt: skip
    print(f"\n{args.processes} processes racing on one {args.rows}-row batch (ICA emulator)")
    print(table(("store", "seconds", "runs created", "conflicts", "launched by each"),
                [(s, r["seconds"], r["runs_created"], r["conflicts"], r["launched_by_process"])
                 for s, r in results["race"].items()]))  # fmt: skip
    write("ledger", {"args": vars(args), **results})
    return results


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        main()
