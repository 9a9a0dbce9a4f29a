"""The fault scenario of ``test_faults.py``, run in its own process.

    python fault_scenario.py PLATFORM SEED N OUT.json [library|cli]

The suite starts one per platform when the session starts (see conftest.py), so the
scenarios, which mostly wait on the pacer, overlap the other tests; and a process of
its own keeps its logging and its threads away from the in-process CLI tests.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from platforms import fault_plan, launch_batch, serve, watch_all

from runhub.backend import RunRef
from runhub.ledger import Ledger
from runhub.state import RunState
from runhub.testing.emulator import FAULT_KINDS, FaultPlan

RATE = 0.2


#: Requests between two of the faults queued by :func:`every_kind_first`.
SPACING = 7


def every_kind_first(plan: FaultPlan, seed: int) -> FaultPlan:
    """``plan`` with one fault of every kind handed out early, every ``SPACING``-th
    request, in a seeded order. Drawn at random alone, a kind may miss a path that
    sends few requests (ICA's creation batches), and the scenario promises that
    each kind was met; spaced out, they never pile onto one request's retries."""
    kinds = list(FAULT_KINDS)
    random.Random(seed).shuffle(kinds)
    drawn = plan.decide
    seen = itertools.count(1)

    def decide(request: httpx.Request) -> str | None:
        if kinds and next(seen) % SPACING == 0:
            kind = kinds.pop()
            plan.counts[kind] += 1
            return kind
        return drawn(request)

    plan.decide = decide  # type: ignore[method-assign]
    return plan


def run_scenario(name: str, seed: int, n: int) -> dict[str, Any]:
    """Launch ``n`` runs on ``name`` with faults, then watch them all to their end."""
    ledger = Path(tempfile.mkdtemp(prefix="runhub-faults-")) / f"{name}.sqlite"
    batch = f"faults-{name}"
    with serve(name, every_kind_first(fault_plan(RATE, seed), seed)) as platform:
        specs = [platform.spec(i, fail=i % 10 == 0) for i in range(n)]
        outcome = asyncio.run(launch_batch(platform, specs, ledger, batch=batch))
        refs = [s.ref for s in outcome.statuses]
        watched = asyncio.run(watch_all(platform, refs, ledger))
        return {
            "sent": outcome.sent,
            "raised": outcome.raised,
            "created": platform.created_ids(),
            "ref_ids": [platform.run_id(r) for r in refs],
            "final": {
                ref: [s.state.value, platform.true_state(platform.run_id(s.ref)).value]
                for ref, s in watched.items()
            },
            "expected": {
                str(s.ref): (RunState.FAILED if i % 10 == 0 else RunState.SUCCEEDED).value
                for i, s in enumerate(outcome.statuses)
            },
            "ledger_refs": [row.ref for row in Ledger(ledger).batch(batch)],
            "faults": dict(platform.faults.counts),
        }


def template(name: str) -> str:
    """A batch template whose rows are the ``fault_scenario`` rows."""
    if name == "ica":
        return (
            "backend: ica\npipeline: fastqc-0-12\nname: 'row {row}'\n"
            "mounts: [{source: /fastqs/, input: reads}]\n"
            "parameters: {sample: 'S{row}', mode: '{mode}'}\n"
        )
    return (
        "backend: codeocean\npipeline: 8d1e6c2a-4b7f-4e39-a0d2-5c3b9f17e6a4\n"
        "name: 'row {row}'\nparameters: {NumFiles: '{row}', mode: '{mode}'}\n"
    )


def run_cli_scenario(name: str, seed: int, n: int) -> dict[str, Any]:
    """The same through ``runhub batch``: re-run the command until it exits 0, then
    once more with ``--wait`` to follow every run to its end."""
    work = Path(tempfile.mkdtemp(prefix="runhub-cli-faults-"))
    fail = {"ica": "emulator:fail", "codeocean": "fail"}[name]
    (work / "tpl.yaml").write_text(template(name))
    rows = "".join(f"{i},{fail if i % 10 == 0 else 'fast'}\n" for i in range(n))
    (work / "sheet.csv").write_text("row,mode\n" + rows)
    command = [sys.executable, "-m", "runhub.cli", "batch", "tpl.yaml", "sheet.csv", "-o", "json"]
    with serve(name, every_kind_first(fault_plan(RATE, seed), seed)) as platform:
        env = {**os.environ, **platform.env(), "RUNHUB_HOME": str(work / "home")}
        env["RUNHUB_CONFIG"] = str(work / "none.toml")
        codes: list[int] = []
        seconds: list[float] = []
        for _ in range(10):
            started = time.monotonic()
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
            codes.append(done.returncode)
            seconds.append(round(time.monotonic() - started, 1))
            if done.returncode == 0:
                break
        waited = subprocess.run(
            [*command, "--wait", "--poll", "0.05"],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        shown = json.loads(waited.stdout)["runs"]
        refs = [RunRef.parse(r["ref"]) for r in shown]
        return {
            "codes": codes,
            "seconds": seconds,
            "wait_code": waited.returncode,
            "created": platform.created_ids(),
            "ref_ids": [platform.run_id(r) for r in refs],
            "final": {
                r["ref"]: [r["state"], platform.true_state(platform.run_id(ref)).value]
                for r, ref in zip(shown, refs, strict=True)
            },
            "expected": {
                r["ref"]: ("FAILED" if (r["row"] - 2) % 10 == 0 else "SUCCEEDED") for r in shown
            },
            "ledger_refs": [
                row.ref for row in Ledger(work / "home" / "ledger.sqlite").runs(limit=None)
            ],
            "faults": dict(platform.faults.counts),
        }


if __name__ == "__main__":
    platform_name, seed_text, count, out = sys.argv[1:5]
    how = sys.argv[5] if len(sys.argv) > 5 else "library"
    scenario = run_cli_scenario if how == "cli" else run_scenario
    result = scenario(platform_name, int(seed_text), int(count))
    Path(out).write_text(json.dumps(result))
