"""Copying a whole ledger into another (``runhub ledger copy``), and its counts.

A copy reads every row of the source (:meth:`export`) and adds to the destination
the rows it lacks (:meth:`merge`): a launch is the same launch in both when its key,
or its (batch, row key), is; such rows are left as the destination has them. So a
copy may be run again, or after more launches, and copies nothing twice; and a
batch row launched in both ledgers keeps the destination's run.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Protocol

from runhub.ledger.records import Launch

#: Rows per table, for ``runhub ledger info``; the same SQL on every store.
COUNTS_SQL = (
    "SELECT 'launches' AS name, count(*) AS n FROM launches"
    " UNION ALL SELECT 'launched', count(*) FROM launches WHERE ref IS NOT NULL"
    " UNION ALL SELECT 'claimed', count(*) FROM launches WHERE claim_owner IS NOT NULL"
    " UNION ALL SELECT 'pruned', count(*) FROM pruned"
    " UNION ALL SELECT 'specs', count(*) FROM launch_specs"
)


@dataclass(frozen=True)
class Snapshot:
    """Every row of a ledger: launches (oldest first), tombstones, specs (JSON text)."""

    launches: list[Launch]
    tombstones: list[dict[str, Any]]
    specs: list[tuple[str, str, str | None]]


class Copyable(Protocol):
    """What a store offers for whole-ledger copies and counts."""

    location: str

    def export(self) -> Snapshot: ...

    def merge(self, snapshot: Snapshot) -> dict[str, int]: ...

    def counts(self) -> dict[str, int]: ...


def launch_values(launch: Launch) -> list[Any]:
    """A launch's column values in :class:`Launch` field order."""
    return [getattr(launch, f.name) for f in fields(Launch)]


@dataclass(frozen=True)
class Copied:
    """What one copy found and added."""

    found: dict[str, int]
    added: dict[str, int]

    @property
    def skipped(self) -> int:
        """Rows the destination already had."""
        return sum(self.found.values()) - sum(self.added.values())


def copy_ledger(source: Copyable, dest: Copyable) -> Copied:
    """Add every row of ``source`` that ``dest`` lacks to ``dest`` (one transaction
    on ``dest``); see the module doc for which rows count as the same."""
    snapshot = source.export()
    found = {
        "launches": len(snapshot.launches),
        "pruned": len(snapshot.tombstones),
        "specs": len(snapshot.specs),
    }
    return Copied(found, dest.merge(snapshot))
