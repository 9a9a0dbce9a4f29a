"""The PostgreSQL store's chain tables (step 5 of :mod:`.postgres_schema`): each a
function of one open transaction, called by
:class:`~runhub.ledger.postgres.PostgresStore`.

``ON CONFLICT DO NOTHING`` everywhere: a chain, a row and a mark are written once
and the first writer wins (a second writer waits on the first's uncommitted
insert, then does nothing), so processes advancing one chain agree on every mark.
Each function can run twice with the same result, as postgres_conn's retries need.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runhub.ledger.records import ChainMark, ChainRecord

if TYPE_CHECKING:
    import psycopg

    Db = psycopg.Connection[Any]


def keep(db: Db, chain: str, definition: Any, rows: Sequence[tuple[str, Any]], now: float) -> None:
    """Insert the chain and its rows, unless the chain was recorded before."""
    cursor = db.execute(
        "INSERT INTO chains (id, definition, created_at) VALUES (%s, %s, %s)"
        " ON CONFLICT (id) DO NOTHING",
        (chain, json.dumps(definition, sort_keys=True), now),
    )
    if cursor.rowcount != 1:
        return
    with db.cursor() as many:
        many.executemany(
            "INSERT INTO chain_rows (chain, row_key, position, cells) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (chain, row_key) DO NOTHING",
            [
                (chain, row, position, json.dumps(cells, sort_keys=True))
                for position, (row, cells) in enumerate(rows)
            ],
        )


def read(db: Db, chain: str) -> ChainRecord | None:
    """The chain, its rows in order and its marks."""
    found = db.execute(
        "SELECT definition, created_at FROM chains WHERE id = %s", (chain,)
    ).fetchone()
    if found is None:
        return None
    rows = db.execute(
        "SELECT row_key, cells FROM chain_rows WHERE chain = %s ORDER BY position", (chain,)
    ).fetchall()
    marks = db.execute(
        "SELECT row_key, step, outcome, message FROM chain_marks WHERE chain = %s", (chain,)
    ).fetchall()
    return ChainRecord(
        id=chain,
        definition=json.loads(found["definition"]),
        rows=[(r["row_key"], json.loads(r["cells"])) for r in rows],
        marks={
            (m["row_key"], m["step"]): ChainMark(
                m["row_key"], m["step"], m["outcome"], m["message"]
            )
            for m in marks
        },
        created_at=float(found["created_at"]),
    )


def mark(db: Db, chain: str, marks: Sequence[ChainMark], now: float) -> None:
    """Insert marks; a (row, step) marked before keeps its mark."""
    with db.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO chain_marks (chain, row_key, step, outcome, message, at)"
            " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (chain, row_key, step) DO NOTHING",
            [(chain, m.row, m.step, m.outcome, m.message, now) for m in marks],
        )
