"""The SQLite store's chain tables (schema v5): each a function of one open
transaction, called by :class:`~runhub.ledger.sqlite.SqliteStore`.

``INSERT OR IGNORE`` everywhere: a chain, a row and a mark are written once, and
the first writer wins, so two processes advancing one chain agree on every mark.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from runhub.ledger.records import ChainMark, ChainRecord


def keep(
    db: sqlite3.Connection,
    chain: str,
    definition: Any,
    rows: Sequence[tuple[str, Any]],
    now: float,
) -> None:
    """Insert the chain and its rows, unless the chain was recorded before."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO chains (id, definition, created_at) VALUES (?, ?, ?)",
        (chain, json.dumps(definition, sort_keys=True), now),
    )
    if cursor.rowcount != 1:
        return
    db.executemany(
        "INSERT OR IGNORE INTO chain_rows (chain, row_key, position, cells) VALUES (?, ?, ?, ?)",
        [
            (chain, row, position, json.dumps(cells, sort_keys=True))
            for position, (row, cells) in enumerate(rows)
        ],
    )


def read(db: sqlite3.Connection, chain: str) -> ChainRecord | None:
    """The chain, its rows in order and its marks."""
    found = db.execute(
        "SELECT definition, created_at FROM chains WHERE id = ?", (chain,)
    ).fetchone()
    if found is None:
        return None
    rows = db.execute(
        "SELECT row_key, cells FROM chain_rows WHERE chain = ? ORDER BY position", (chain,)
    ).fetchall()
    marks = db.execute(
        "SELECT row_key, step, outcome, message FROM chain_marks WHERE chain = ?", (chain,)
    ).fetchall()
    return ChainRecord(
        id=chain,
        definition=json.loads(found[0]),
        rows=[(r[0], json.loads(r[1])) for r in rows],
        marks={(m[0], m[1]): ChainMark(m[0], m[1], m[2], m[3]) for m in marks},
        created_at=float(found[1]),
    )


def mark(db: sqlite3.Connection, chain: str, marks: Sequence[ChainMark], now: float) -> None:
    """Insert marks; a (row, step) marked before keeps its mark."""
    db.executemany(
        "INSERT OR IGNORE INTO chain_marks (chain, row_key, step, outcome, message, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(chain, m.row, m.step, m.outcome, m.message, now) for m in marks],
    )
