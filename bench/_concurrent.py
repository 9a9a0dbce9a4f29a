"""``faults.py --processes K``: K launcher processes on one batch at the same moment.

The emulator (with its fault plan) lives in the calling process; each launcher is
this file run as a script, launching all N rows of the same batch through
``AsyncClient.launch_many`` with one shared ledger, re-running rows that raised
AmbiguousLaunch/TransportError as a user re-running the batch would. Claims in the
ledger decide which process sends each row; the emulator counts what was created.

    python bench/_concurrent.py SETTINGS_JSON PLATFORM LEDGER N BATCH CONCURRENCY
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "reliability"))

from platforms import Platform, fault_plan, launch_batch, serve, watch_all

from runhub.ledger import Ledger
from runhub.state import RunState

BATCH = "bench-together"


def measure_concurrent(
    name: str, n: int, rate: float, seed: int, concurrency: int, processes: int
) -> dict[str, Any]:
    """``processes`` launchers racing on one ``n``-row batch under faults."""
    tmp = Path(tempfile.mkdtemp(prefix="runhub-together-"))
    ledger = tmp / "ledger.sqlite"
    Ledger(ledger).close()  # created once, before the race
    with serve(name, fault_plan(rate, seed)) as platform:
        settings = json.dumps(platform.settings)
        command = [sys.executable, __file__, settings, name, str(ledger), str(n), BATCH]
        started = time.perf_counter()
        procs = [
            subprocess.Popen([*command, str(concurrency)], stdout=subprocess.PIPE, text=True)
            for _ in range(processes)
        ]
        reports = [json.loads(p.communicate()[0] or "{}") for p in procs]
        launched_in = time.perf_counter() - started
        rows = Ledger(ledger).batch(BATCH)
        refs = [r.run_ref() for r in rows if r.ref is not None]
        watched = asyncio.run(watch_all(platform, [r for r in refs if r], ledger, timeout=600))
        created = platform.created_ids()
        ids = {platform.run_id(r) for r in refs if r}
        expected = {f"row-{i}": i % 10 == 0 for i in range(n)}
        wrong = sum(
            1
            for row in rows
            if row.ref is not None
            and watched.get(row.ref) is not None
            and watched[row.ref].state
            is not (RunState.FAILED if expected.get(row.row_key or "") else RunState.SUCCEEDED)
        )
        faults = dict(sorted(platform.faults.counts.items()))
    return {
        "platform": name,
        "processes": processes,
        "runs_asked": n,
        "runs_created": len(created),
        "duplicates": len(created) - len(set(created)),
        "lost": n - len(ids & set(created)),
        "ledger_rows": len(rows),
        "ledger_rows_without_run": sum(1 for r in rows if r.ref is None),
        "wrong_final_state": wrong + (len(refs) - len(watched)),
        "exit_codes": [p.returncode for p in procs],
        "rows_reported_per_process": [r.get("done", 0) for r in reports],
        "passes_per_process": [r.get("passes", 0) for r in reports],
        "requests_sent_per_process": [r.get("sent", 0) for r in reports],
        "faults_total": sum(faults.values()),
        "launch_seconds": round(launched_in, 1),
    }


def worker(settings: dict[str, Any], name: str, ledger: Path, n: int, concurrency: int) -> int:
    """One launcher: the whole batch, with re-runs of rows that raised."""
    platform = Platform(name, app=None, server=None, clock=None, settings=settings)  # type: ignore[arg-type]
    specs = [platform.spec(i, fail=i % 10 == 0) for i in range(n)]
    outcome = asyncio.run(
        launch_batch(platform, specs, ledger, batch=BATCH, concurrency=concurrency)
    )
    print(json.dumps({"done": len(outcome.statuses), "passes": outcome.passes,
                      "sent": outcome.sent}))  # fmt: skip
    return 0 if len(outcome.statuses) == n else 1


if __name__ == "__main__":
    values, platform_name, path, count, _batch, width = sys.argv[1:7]
    sys.exit(worker(json.loads(values), platform_name, Path(path), int(count), int(width)))
