"""Which runs a watch must poll, when the ledger already heard of the others.

An event consumer (``runhub events consume``, the Lambda handler) writes each run's
new state into the ledger as the platform announces it. A watch given ``fresh``
seconds then takes a run's state from the ledger when it was recorded less than that
long ago, and polls only the runs not heard of within it: with events flowing, the
polls left are the safety net the platform advises (a lost notification delays,
never stalls). Without events, each run is polled once per ``fresh`` seconds at most.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runhub.ledger import Ledger
    from runhub.ref import RunRef
    from runhub.state import RunStatus


def split(
    heard: Mapping[str, float], refs: Sequence[str], within: float, now: float
) -> tuple[list[str], list[str]]:
    """(refs heard of within ``within`` seconds before ``now``, refs to poll)."""
    fresh: list[str] = []
    stale: list[str] = []
    for ref in refs:
        at = heard.get(ref)
        (fresh if at is not None and now - at < within else stale).append(ref)
    return fresh, stale


def recorded(
    ledger: Ledger, refs: Sequence[RunRef], within: float, now: float
) -> tuple[list[RunStatus], list[RunRef]]:
    """(the ledger's statuses of runs recorded within ``within`` seconds, refs to poll)."""
    statuses: dict[str, RunStatus] = {}
    heard: dict[str, float] = {}
    for ref in refs:
        row = ledger.by_ref(str(ref))
        status = row.recorded_status() if row is not None and row.state else None
        if row is not None and status is not None:
            statuses[str(ref)] = status
            heard[str(ref)] = row.updated_at
    fresh, _ = split(heard, [str(r) for r in refs], within, now)
    chosen = set(fresh)
    return [statuses[r] for r in fresh], [r for r in refs if str(r) not in chosen]


__all__ = ["recorded", "split"]
