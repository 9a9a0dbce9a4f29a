"""The PostgreSQL store's intents: insert-or-get, one row per intent.

Run inside the caller's transaction (:meth:`PostgresStore.intents`). The rules are
the SQLite store's (:meth:`runhub.ledger.store.Store.intents`); what differs is how
two processes recording the same row at once meet: ``INSERT ... ON CONFLICT DO
NOTHING`` waits for the other's transaction, and the ``SELECT`` after it (a new
snapshot at READ COMMITTED) reads the row it committed.
"""

from __future__ import annotations

from dataclasses import fields
from typing import TYPE_CHECKING, Any

from runhub.ledger.records import Intent, Launch, launch_key, random_key

if TYPE_CHECKING:
    import psycopg

    Db = psycopg.Connection[Any]

COLUMNS = ", ".join(f.name for f in fields(Launch))
SELECT = f"SELECT {COLUMNS} FROM launches"
TOMB_COLUMNS = (
    "batch, row_key, key, backend, spec_hash, name, ref, ref_group, state, native,"
    " created_at, launched_at, pruned_at"
)


def row_for(db: Db, item: Intent, now: float) -> dict[str, Any]:
    """The intent's row: the one it already has, else a new one."""
    return find(db, item) or insert(db, item, now)


def find(db: Db, item: Intent) -> dict[str, Any] | None:
    """The row an intent already has (see Store.intents), or None."""
    if item.key is not None:
        row = db.execute(f"{SELECT} WHERE key = %s FOR UPDATE", (item.key,)).fetchone()
        if row is not None and reusable(row, item):
            db.execute("DELETE FROM launches WHERE key = %s", (item.key,))
            return None
        if row is not None:
            return dict(row)
    if item.batch is None or item.row_key is None:
        return None
    where = (item.batch, item.row_key)
    row = db.execute(f"{SELECT} WHERE batch = %s AND row_key = %s", where).fetchone()
    if row is not None:
        return dict(row)
    # A pruned row that had a run: it comes back with its key and ref, so the batch
    # re-attaches to that run instead of launching the row again.
    tomb = db.execute(
        f"DELETE FROM pruned WHERE batch = %s AND row_key = %s RETURNING {TOMB_COLUMNS}", where
    ).fetchone()
    if tomb is None:
        return None
    db.execute(
        "INSERT INTO launches (key, backend, spec_hash, batch, row_key, name, ref, ref_group,"
        " state, native, attempts, created_at, attempted_at, launched_at, updated_at)"
        " VALUES (%(key)s, %(backend)s, %(spec_hash)s, %(batch)s, %(row_key)s, %(name)s,"
        " %(ref)s, %(ref_group)s, %(state)s, %(native)s, 1, %(created_at)s, %(launched_at)s,"
        " %(launched_at)s, %(pruned_at)s) ON CONFLICT DO NOTHING",
        tomb,
    )
    back = db.execute(f"{SELECT} WHERE key = %s", (tomb["key"],)).fetchone()
    return None if back is None else dict(back)


def insert(db: Db, item: Intent, now: float) -> dict[str, Any]:
    """A new row for the intent, or the row a concurrent launcher just committed."""
    key = item.key
    if key is None and item.batch is not None and item.row_key is not None:
        key = launch_key(item.batch, item.row_key)
    key = key or random_key()
    row = db.execute(
        "INSERT INTO launches (key, backend, spec_hash, batch, row_key, name,"
        " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        f" ON CONFLICT DO NOTHING RETURNING {COLUMNS}",
        (key, item.backend, item.spec_hash, item.batch, item.row_key, item.name, now, now),
    ).fetchone()
    if row is None:  # another process inserted it first (it committed; we waited)
        row = db.execute(f"{SELECT} WHERE key = %s", (key,)).fetchone()
        if row is None and item.batch is not None and item.row_key is not None:
            row = db.execute(
                f"{SELECT} WHERE batch = %s AND row_key = %s", (item.batch, item.row_key)
            ).fetchone()
    assert row is not None, f"launch {key} neither inserted nor found"
    return dict(row)


def reusable(row: dict[str, Any], item: Intent) -> bool:
    """As the SQLite store: a caller's key may name a new launch when its row, for
    another spec, never created a run (refused, or never sent) and nobody holds it."""
    other = (row["spec_hash"], row["backend"]) != (item.spec_hash, item.backend)
    unused = row["ref"] is None and (row["error"] is not None or row["attempted_at"] is None)
    return other and unused and row["claim_owner"] is None
