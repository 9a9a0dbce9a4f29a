"""The listeners every entry point calls after an event is committed, by default.

``runhub.chain.advance_chains(client, refs)`` launches the chain steps an event made
due (exactly once: each step's launch is a ledger row). It is looked up when asked
for, so a runhub without the chain package still applies events to the ledger.
"""

from __future__ import annotations

import importlib

from runhub.events.apply import Listener


def default_listeners() -> list[Listener]:
    """``[runhub.chain.advance_chains]`` where the chain package has it, else none."""
    try:
        chain = importlib.import_module("runhub.chain")
    except ImportError:
        return []
    advance = getattr(chain, "advance_chains", None)
    return [advance] if callable(advance) else []


__all__ = ["default_listeners"]
