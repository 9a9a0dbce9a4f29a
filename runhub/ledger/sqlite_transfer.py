"""The SQLite store's whole-ledger operations: counts, export and merge
(``runhub ledger info`` / ``copy``; see :mod:`runhub.ledger.transfer`)."""

from __future__ import annotations

import sqlite3
from dataclasses import fields

from runhub.ledger.records import Launch
from runhub.ledger.transfer import COUNTS_SQL, Snapshot, launch_values

_TOMB_COLUMNS = (
    "batch, row_key, key, backend, spec_hash, name, ref, ref_group, state, native,"
    " created_at, launched_at, pruned_at"
)
_COLUMNS = ", ".join(f.name for f in fields(Launch))


def counts(db: sqlite3.Connection) -> dict[str, int]:
    """Rows per table (see Store.counts)."""
    return {str(name): int(n) for name, n in db.execute(COUNTS_SQL)}


def export(db: sqlite3.Connection) -> Snapshot:
    """Every row, read in the caller's transaction."""
    launches = db.execute(f"SELECT {_COLUMNS} FROM launches ORDER BY created_at, rowid")
    tombs = db.execute(f"SELECT {_TOMB_COLUMNS} FROM pruned")
    specs = db.execute("SELECT key, spec, previous FROM launch_specs")
    return Snapshot(
        [Launch(**dict(r)) for r in launches],
        [dict(r) for r in tombs],
        [(r["key"], r["spec"], r["previous"]) for r in specs],
    )


def merge(db: sqlite3.Connection, snapshot: Snapshot) -> tuple[dict[str, int], int]:
    """Add the rows ``db`` lacks, in the caller's transaction; the rows added per
    table, and the sends they carry (for the ledger's counters)."""
    marks = ", ".join("?" * len(fields(Launch)))
    added = {"launches": 0, "pruned": 0, "specs": 0}
    sends = 0
    for launch in snapshot.launches:
        cursor = db.execute(
            f"INSERT OR IGNORE INTO launches ({_COLUMNS}) VALUES ({marks})", launch_values(launch)
        )
        if cursor.rowcount == 1:
            added["launches"] += 1
            sends += launch.attempts
    names = _TOMB_COLUMNS.split(", ")
    for tomb in snapshot.tombstones:
        cursor = db.execute(
            f"INSERT OR IGNORE INTO pruned ({_TOMB_COLUMNS}) SELECT {', '.join('?' * len(names))}"
            " WHERE NOT EXISTS (SELECT 1 FROM launches WHERE batch = ? AND row_key = ?)",
            [*(tomb[n] for n in names), tomb["batch"], tomb["row_key"]],
        )
        added["pruned"] += max(cursor.rowcount, 0)
    for key, spec, previous in snapshot.specs:
        cursor = db.execute(
            "INSERT OR IGNORE INTO launch_specs (key, spec, previous) VALUES (?, ?, ?)",
            (key, spec, previous),
        )
        added["specs"] += max(cursor.rowcount, 0)
    return added, sends
