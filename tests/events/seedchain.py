"""The seed document's Lambda as an event listener, standing in for the chain runner.

When step 1 (a run named ``step1-*``) has succeeded, list its outputs, take the
``*.summary.tsv`` file and launch step 2 on it, keyed by step 1's ref, so it is
launched once however often the listener is called (the ledger and ICA's
Idempotency-Key keep that promise). A module of its own so that subprocesses
(kill_driver.py) use the very same listener.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from runhub.aio import AsyncClient
from runhub.spec import RunSpec
from runhub.state import RunState

FASTQC = "fastqc-0-12"


def step1_spec(name: str = "step1-sampleA") -> dict[str, Any]:
    return {
        "backend": "ica",
        "pipeline": FASTQC,
        "name": name,
        "mounts": [{"source": "/fastqs/", "input": "reads"}],
    }


@dataclass
class SeedChain:
    """The seed's Lambda as a listener (see the module docstring)."""

    calls: int = 0
    launched: list[str] = field(default_factory=list)
    glob: str = "*.summary.tsv"

    async def __call__(self, client: AsyncClient, refs: Sequence[str]) -> None:
        self.calls += 1
        ledger = client.ledger
        assert ledger is not None
        for ref in refs:
            row = ledger.by_ref(ref)
            if row is None or not (row.name or "").startswith("step1-"):
                continue
            if row.state != RunState.SUCCEEDED.value:
                continue
            outputs = await client.outputs(ref)
            chosen = [o for o in outputs if o.kind == "file" and fnmatch.fnmatch(o.path, self.glob)]
            spec = {
                "backend": "ica",
                "pipeline": FASTQC,
                "name": "step2-" + row.name.removeprefix("step1-"),  # type: ignore[union-attr]
                "mounts": [{"source": chosen[0].id, "input": "reads"}],
            }
            key = hashlib.sha256(f"step2\0{ref}".encode()).hexdigest()[:32]
            status = await client.launch(RunSpec.from_data(spec), key=key)
            self.launched.append(str(status.ref))
