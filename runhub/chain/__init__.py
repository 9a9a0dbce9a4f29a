"""Chains: named steps, each a RunSpec, run one after another and fed by earlier
steps' outputs — followed by polling, or advanced by events (docs/chains.md).

    from runhub import AsyncClient

    async with AsyncClient() as client:
        done = await client.chain("chain.yaml", samplesheet="samples.csv")
        print(done.id, done.verdict)

- :mod:`.model`: the chain file's shape; :mod:`.validate`: everything checked
  before anything runs, and each row's plan;
- :mod:`.data`: how outputs move between steps' backends;
- :mod:`.advance`: one pass that launches what is due, exactly once, through the
  ledger (:func:`advance_chains`: the entry point of event consumers);
- :mod:`.runner`: start, follow by polling, status, cancel;
- :mod:`.progress`: where a chain stands, read from the ledger.
"""

from __future__ import annotations

from runhub.chain.advance import advance, advance_chains
from runhub.chain.progress import ChainView, RowView, StepView
from runhub.chain.runner import POLL_INTERVAL, cancel, follow, poll_interval, prepare, status
from runhub.chain.validate import ChainError, ChainPlan

__all__ = [
    "POLL_INTERVAL",
    "ChainError",
    "ChainPlan",
    "ChainView",
    "RowView",
    "StepView",
    "advance",
    "advance_chains",
    "cancel",
    "follow",
    "poll_interval",
    "prepare",
    "status",
]
