"""The PostgreSQL store's whole-ledger operations: counts, export and merge
(``runhub ledger info`` / ``copy``; see :mod:`runhub.ledger.transfer`). Each runs
inside the caller's transaction."""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from runhub.ledger.postgres_intents import COLUMNS, SELECT, TOMB_COLUMNS
from runhub.ledger.records import Launch
from runhub.ledger.transfer import COUNTS_SQL, Snapshot, launch_values

if TYPE_CHECKING:
    import psycopg

    Db = psycopg.Connection[Any]


def counts(db: Db) -> dict[str, int]:
    """Rows per table (see Store.counts)."""
    return {str(r["name"]): int(r["n"]) for r in db.execute(COUNTS_SQL).fetchall()}


def export(db: Db) -> Snapshot:
    """Every row: launches oldest first, tombstones, specs."""
    launches = db.execute(f"{SELECT} ORDER BY created_at, seq").fetchall()
    tombs = db.execute(f"SELECT {TOMB_COLUMNS} FROM pruned").fetchall()
    specs = db.execute("SELECT key, spec, previous FROM launch_specs").fetchall()
    return Snapshot(
        [Launch(**r) for r in launches],
        [dict(r) for r in tombs],
        [(r["key"], r["spec"], r["previous"]) for r in specs],
    )


def merge(db: Db, snapshot: Snapshot) -> dict[str, int]:
    """Add the rows ``db`` lacks; ``ON CONFLICT DO NOTHING`` (no target) skips a
    launch whose key *or* (batch, row key) is here. The rows added per table."""
    marks = ", ".join(["%s"] * len(fields(Launch)))
    names = TOMB_COLUMNS.split(", ")
    added = {"launches": 0, "pruned": 0, "specs": 0}
    for launch in snapshot.launches:
        added["launches"] += db.execute(
            f"INSERT INTO launches ({COLUMNS}) VALUES ({marks}) ON CONFLICT DO NOTHING",
            launch_values(launch),
        ).rowcount
    for tomb in snapshot.tombstones:
        added["pruned"] += db.execute(
            f"INSERT INTO pruned ({TOMB_COLUMNS}) SELECT {', '.join(['%s'] * len(names))}"
            " WHERE NOT EXISTS (SELECT 1 FROM launches WHERE batch = %s AND row_key = %s)"
            " ON CONFLICT DO NOTHING",
            [*(tomb[n] for n in names), tomb["batch"], tomb["row_key"]],
        ).rowcount
    for key, spec, previous in snapshot.specs:
        added["specs"] += db.execute(
            "INSERT INTO launch_specs (key, spec, previous) VALUES (%s, %s, %s)"
            " ON CONFLICT DO NOTHING",
            (key, spec, previous),
        ).rowcount
    return added
