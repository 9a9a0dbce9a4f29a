"""A small program around AsyncClient + Ledger that launches one batch, for the
crash tests to SIGKILL at random moments and then run again.

    python crash_driver.py BACKEND LEDGER N BATCH

Settings come from the environment (ICAV2_* / CODEOCEAN_*), as for any user.
Prints ``ready`` once it is about to launch and ``done <refs>`` at the end. Rows
that raise AmbiguousLaunch/TransportError are launched again (same batch and row
keys), as a user re-running the batch would.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from rows import POLICY, RETRYABLE, spec_for

from runhub.aio import AsyncClient
from runhub.ledger import Ledger
from runhub.state import RunStatus


async def main(backend: str, ledger: str, n: int, batch: str) -> int:
    specs = [spec_for(backend, i) for i in range(n)]
    rows = [f"row-{i}" for i in range(n)]
    print("ready", flush=True)
    done: dict[int, str] = {}
    for _ in range(10):
        todo = [i for i in range(n) if i not in done]
        if not todo:
            break
        async with AsyncClient(ledger=Ledger(ledger), policy=POLICY) as client:
            results = await client.launch_many(
                [specs[i] for i in todo],
                concurrency=4,
                batch=batch,
                row_keys=[rows[i] for i in todo],
                return_exceptions=True,
            )
        for index, result in zip(todo, results, strict=True):
            if isinstance(result, RunStatus):
                done[index] = str(result.ref)
            elif not isinstance(result, RETRYABLE):
                print(f"error {type(result).__name__}: {result}", flush=True)
                return 1
    print("done", " ".join(done[i] for i in sorted(done)), flush=True)
    return 0 if len(done) == n else 1


if __name__ == "__main__":
    name, path, count, batch_id = sys.argv[1:5]
    sys.exit(asyncio.run(main(name, path, int(count), batch_id)))
