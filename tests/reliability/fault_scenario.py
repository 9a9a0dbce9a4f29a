"""The fault scenario of ``test_faults.py``, run in its own process.

    python fault_scenario.py PLATFORM SEED N OUT.json

The suite starts one per platform when the session starts (see conftest.py), so the
scenarios, which mostly wait on the pacer, overlap the other tests; and a process of
its own keeps its logging and its threads away from the in-process CLI tests.
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from platforms import fault_plan, launch_batch, serve, watch_all

from runhub.ledger import Ledger
from runhub.state import RunState

RATE = 0.2


def run_scenario(name: str, seed: int, n: int) -> dict[str, Any]:
    """Launch ``n`` runs on ``name`` with faults, then watch them all to their end."""
    ledger = Path(tempfile.mkdtemp(prefix="runhub-faults-")) / f"{name}.sqlite"
    batch = f"faults-{name}"
    with serve(name, fault_plan(RATE, seed)) as platform:
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


if __name__ == "__main__":
    platform_name, seed_text, count, out = sys.argv[1:5]
    result = run_scenario(platform_name, int(seed_text), int(count))
    Path(out).write_text(json.dumps(result))
