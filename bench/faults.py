"""Launch N runs on each emulator with a share of all requests faulted, then watch
them to their end; count, on the emulator, what was created.

Every fault kind is drawn (429 with and without Retry-After, 502, 503, 504,
connection dropped before or after the request reached the app, answers slower
than the read timeout, truncated JSON). Runs go through ``AsyncClient.launch_many``
with a ledger; rows that raised AmbiguousLaunch/TransportError are launched again
with the same batch and row keys, as a user re-running the batch would. The
scenario is the one ``tests/reliability/test_faults.py`` asserts on with N=200.

With ``--processes K`` (K > 1), K launcher processes run the same batch at the same
moment, sharing one ledger (bench/_concurrent.py): still exactly N runs.

With ``--kills K``, ``runhub batch`` on ICA goes through creation batches (the
default) under the faults and is SIGKILLed K times at random moments, then run
again to completion (bench/_killed.py): exactly N analyses, none twice, every
row's ref the analysis carrying its own key tag.

Usage: python bench/faults.py [-n 1000] [--rate 0.2] [--seed 1] [--platform ica ...]
                              [--processes 4] [--kills 10]
Writes bench/results/faults.json (faults-processes.json with --processes) and prints
a table.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import table, write

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "reliability"))

from platforms import PLATFORMS, fault_plan, launch_batch, serve, watch_all

from runhub.ledger import Ledger
from runhub.state import RunState


def measure(name: str, n: int, rate: float, seed: int, concurrency: int) -> dict[str, Any]:
    """One platform's batch under faults, and what came of it."""
    tmp = Path(tempfile.mkdtemp(prefix="runhub-faults-"))
    ledger = tmp / "ledger.sqlite"
    with serve(name, fault_plan(rate, seed), creation_batch_size=100) as platform:
        specs = [platform.spec(i, fail=i % 10 == 0) for i in range(n)]
        started = time.perf_counter()
        outcome = asyncio.run(
            launch_batch(platform, specs, ledger, batch="bench", concurrency=concurrency)
        )
        launched_in = time.perf_counter() - started
        refs = [s.ref for s in outcome.statuses]
        started = time.perf_counter()
        watched = asyncio.run(watch_all(platform, refs, ledger, timeout=600))
        watched_in = time.perf_counter() - started
        created = platform.created_ids()
        returned = [platform.run_id(r) for r in refs]
        rows = Ledger(ledger).batch("bench")
        expected = {
            str(s.ref): RunState.FAILED if i % 10 == 0 else RunState.SUCCEEDED
            for i, s in enumerate(outcome.statuses)
        }
        wrong_state = sum(
            1
            for ref, status in watched.items()
            if status.state is not platform.true_state(platform.run_id(status.ref))
            or status.state is not expected.get(ref)
        )
        faults = dict(sorted(platform.faults.counts.items()))
        requests = platform.server.requests
    return {
        "platform": name,
        "runs_asked": n,
        "runs_created": len(created),
        "duplicates": len(created) - len(set(created)),
        "lost": n - len(set(returned) & set(created)),
        "refs_not_real": len(set(returned) - set(created)),
        "ledger_rows_without_run": sum(1 for r in rows if r.ref is None),
        "wrong_final_state": wrong_state + (n - len(watched)),
        "passes": outcome.passes,
        "raised_then_relaunched": outcome.raised,
        "faults_injected": faults,
        "faults_total": sum(faults.values()),
        "requests_served": requests,
        "launch_requests_sent": outcome.sent,
        "launch_requests_per_run": round(outcome.sent / n, 2),
        "throttled_429": outcome.throttled,
        "launch_seconds": round(launched_in, 1),
        "watch_seconds": round(watched_in, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1000, help="runs per platform")
    parser.add_argument("--rate", type=float, default=0.2, help="share of requests faulted")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--platform", action="append", choices=PLATFORMS)
    parser.add_argument("--processes", type=int, default=1, help="launchers on one batch")
    parser.add_argument("--kills", type=int, default=0, help="ICA creation batches, K kills")
    args = parser.parse_args()
    if args.kills:
        killed(args)
        return
    if args.processes > 1:
        concurrent(args)
        return
    results = [
        measure(name, args.n, args.rate, args.seed + i, args.concurrency)
        for i, name in enumerate(args.platform or PLATFORMS)
    ]
    keys = ["platform", "runs_asked", "runs_created", "duplicates", "lost", "refs_not_real",
            "wrong_final_state", "faults_total", "launch_requests_per_run", "throttled_429",
            "passes", "launch_seconds"]  # fmt: skip
    print(table(keys, [[r[k] for k in keys] for r in results]))
    for r in results:
        print(f"{r['platform']}: faults by kind {r['faults_injected']}")
        print(f"{r['platform']}: raised then re-launched {r['raised_then_relaunched']}")
    path = write("faults", {"n": args.n, "rate": args.rate, "seed": args.seed,
                            "results": results})  # fmt: skip
    print(f"wrote {path}")


def killed(args: argparse.Namespace) -> None:
    """``--kills K``: creation batches under faults, K SIGKILLs, re-run to the end."""
    from _killed import measure_killed

    result = measure_killed(args.n, args.rate, args.seed, args.kills)
    keys = ["platform", "runs_asked", "runs_created", "duplicates", "lost", "wrong_refs",
            "kills", "creation_batches_accepted", "faults_total", "seconds"]  # fmt: skip
    print(table(keys, [[result[k] for k in keys]]))
    print(f"exit codes {result['exit_codes']}; faults by kind {result['faults_injected']}")
    path = write("faults-killed", {"n": args.n, "rate": args.rate, "seed": args.seed,
                                   "results": [result]})  # fmt: skip
    print(f"wrote {path}")


def concurrent(args: argparse.Namespace) -> None:
    """``--processes K``: K launchers on one batch; the count is still N."""
    from _concurrent import measure_concurrent

    results = [
        measure_concurrent(name, args.n, args.rate, args.seed + i, args.concurrency,
                           args.processes)
        for i, name in enumerate(args.platform or PLATFORMS)
    ]  # fmt: skip
    keys = ["platform", "processes", "runs_asked", "runs_created", "duplicates", "lost",
            "ledger_rows_without_run", "wrong_final_state", "faults_total",
            "launch_seconds"]  # fmt: skip
    print(table(keys, [[r[k] for k in keys] for r in results]))
    for r in results:
        print(f"{r['platform']}: exit codes {r['exit_codes']}, rows reported per process "
              f"{r['rows_reported_per_process']}, requests sent per process "
              f"{r['requests_sent_per_process']}")  # fmt: skip
    path = write("faults-processes", {"n": args.n, "rate": args.rate, "seed": args.seed,
                                      "processes": args.processes, "results": results})  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
