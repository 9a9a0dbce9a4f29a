"""The PostgreSQL store: one ledger shared by a team, on a database server.

The same :class:`~runhub.ledger.store.Store` operations as the SQLite store, each
one transaction (READ COMMITTED) through :class:`~.postgres_conn.Connection`:

- intents are insert-or-get (:mod:`.postgres_intents`): two processes recording
  the same batch at once get the same rows;
- claims, sends, renewals and releases are conditional ``UPDATE`` statements: the
  row lock an ``UPDATE`` takes makes a second taker re-check the condition against
  the first one's committed owner, so of several processes exactly one wins;
- every operation can be run twice with the same result (see postgres_conn), so a
  commit whose answer was lost is retried without writing anything twice.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import fields
from typing import TYPE_CHECKING, Any

from runhub.ledger import postgres_chains
from runhub.ledger.postgres_conn import Connection, schema_version
from runhub.ledger.postgres_intents import COLUMNS as _COLUMNS
from runhub.ledger.postgres_intents import SELECT as _SELECT
from runhub.ledger.postgres_intents import TOMB_COLUMNS as _TOMB_COLUMNS
from runhub.ledger.postgres_intents import row_for
from runhub.ledger.records import (
    ATTEMPT_MARK,
    ERROR,
    TERMINAL,
    ChainMark,
    ChainRecord,
    Intent,
    Launch,
    SpecRecord,
    attempt_of,
    row_family,
)
from runhub.ledger.store import Query, Result

if TYPE_CHECKING:
    import psycopg

    from runhub.ledger.transfer import Snapshot

    Db = psycopg.Connection[Any]

_NOT_LAUNCHED = "ref IS NULL"


class PostgresStore:
    """The ledger in the PostgreSQL database at ``url`` (migrated on open)."""

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        self.db = Connection(url)
        self.location = self.db.location
        self.db.open()

    def __repr__(self) -> str:
        return f"<PostgresStore {self.location}>"

    def schema_version(self) -> int:
        """The schema version recorded in the database."""
        return self.db.run("read its schema version", schema_version)

    def close(self) -> None:
        """Close the connection (every operation already committed)."""
        self.db.close()

    # -- intents ---------------------------------------------------------------------

    def intents(self, wanted: Sequence[Intent], now: float) -> list[Launch]:
        """Insert-or-get one row per intent, in one transaction."""

        def work(db: Db) -> list[Launch]:
            return [_launch(row_for(db, item, now)) for item in wanted]

        return self.db.run("record the launches", work)

    # -- claims ----------------------------------------------------------------------

    def claim(
        self,
        key: str,
        owner: str,
        until: float,
        now: float,
        *,
        replacing: str | None = None,
        dead: bool = False,
        settle_from: float | None = None,
    ) -> Launch | None:
        """Conditionally give the row to ``owner`` (see :class:`Store`)."""
        args = {
            "owner": owner,
            "until": until,
            "settle": settle_from,
            "key": key,
            "old": replacing,
            "dead": dead,
            "now": now,
        }

        def work(db: Db) -> Launch | None:
            row = db.execute(
                "UPDATE launches SET claim_owner = %(owner)s, claim_until = %(until)s,"
                " sent_at = CASE WHEN %(settle)s::float8 IS NOT NULL AND attempted_at IS NOT NULL"
                "   THEN greatest(coalesce(sent_at, 0), %(settle)s::float8) ELSE sent_at END"
                f" WHERE key = %(key)s AND {_NOT_LAUNCHED} AND (claim_owner IS NULL"
                "   OR claim_owner = %(owner)s OR (claim_owner = %(old)s"
                "   AND (%(dead)s OR claim_until IS NULL OR claim_until < %(now)s)))"
                f" RETURNING {_COLUMNS}",
                args,
            ).fetchone()
            return None if row is None else _launch(row)

        return self.db.run("claim a launch", work)

    def sent(self, key: str, owner: str, until: float, now: float) -> bool:
        """Record a send under ``owner``'s claim; a retry of the same send (same
        ``now``) counts once."""
        args = {"now": now, "until": until, "key": key, "owner": owner}

        def work(db: Db) -> bool:
            cursor = db.execute(
                "UPDATE launches SET attempts = attempts"
                "   + CASE WHEN sent_at IS NOT DISTINCT FROM %(now)s THEN 0 ELSE 1 END,"
                " attempted_at = coalesce(attempted_at, %(now)s), sent_at = %(now)s,"
                " claim_until = %(until)s, updated_at = %(now)s"
                f" WHERE key = %(key)s AND claim_owner = %(owner)s AND {_NOT_LAUNCHED}",
                args,
            )
            return cursor.rowcount == 1

        return self.db.run("record a launch attempt", work)

    def renew(self, key: str, owner: str, until: float) -> bool:
        """Extend ``owner``'s lease (see :class:`Store`)."""
        return self.db.run(
            "renew a claim",
            lambda db: (
                db.execute(
                    "UPDATE launches SET claim_until = %s"
                    f" WHERE key = %s AND claim_owner = %s AND {_NOT_LAUNCHED}",
                    (until, key, owner),
                ).rowcount
                == 1
            ),
        )

    def release(self, key: str, owner: str) -> None:
        """End ``owner``'s claim on the row, if it still holds it."""
        self.db.run(
            "release a claim",
            lambda db: db.execute(
                "UPDATE launches SET claim_owner = NULL, claim_until = NULL"
                " WHERE key = %s AND claim_owner = %s",
                (key, owner),
            ),
        )

    # -- attempts and results --------------------------------------------------------

    def attempt(self, keys: Sequence[str], now: float) -> None:
        """Mark rows attempted (no claim needed); a retry counts once."""
        self.db.run(
            "record a launch attempt",
            lambda db: db.execute(
                "UPDATE launches SET attempts = attempts + CASE WHEN attempted_at IS NOT NULL"
                "   AND updated_at = %(now)s THEN 0 ELSE 1 END,"
                " attempted_at = coalesce(attempted_at, %(now)s), updated_at = %(now)s"
                " WHERE key = ANY(%(keys)s)",
                {"now": now, "keys": list(keys)},
            ),
        )

    def launched(self, key: str, result: Result, now: float) -> None:
        """Record the platform's answer to a launch."""
        self.db.run(
            "record a launched run",
            lambda db: db.execute(
                "UPDATE launches SET ref = %s, ref_group = %s, state = %s, native = %s,"
                " name = coalesce(name, %s), error = NULL, launched_at = %s, updated_at = %s,"
                " claim_owner = NULL, claim_until = NULL WHERE key = %s",
                (
                    result.ref,
                    result.ref_group,
                    result.state,
                    result.native,
                    result.name,
                    now,
                    now,
                    key,
                ),
            ),
        )

    def failed(self, key: str, error: str, now: float) -> None:
        """Record that the platform refused the launch."""
        self.db.run(
            "record a failed launch",
            lambda db: db.execute(
                "UPDATE launches SET error = %s, updated_at = %s,"
                " claim_owner = NULL, claim_until = NULL WHERE key = %s",
                (error, now, key),
            ),
        )

    def grouped(self, keys: Sequence[str], note: str, now: float) -> None:
        """Record the group request the rows are sent in."""

        def work(db: Db) -> None:
            with db.cursor() as cursor:
                cursor.executemany(
                    "UPDATE launches SET launch_group = %s, updated_at = %s WHERE key = %s",
                    [(note, now, key) for key in keys],
                )

        self.db.run("record the request a group of launches is sent in", work)

    def discard(self, key: str) -> None:
        """Delete a row that never sent anything."""
        self.db.run(
            "forget a launch that sent nothing",
            lambda db: db.execute(
                "DELETE FROM launches WHERE key = %s AND ref IS NULL AND attempted_at IS NULL",
                (key,),
            ),
        )

    def observe(self, seen: Sequence[tuple[str, str, str | None]], now: float) -> None:
        """Record the latest state of runs (by ref); a terminal state is kept."""

        def work(db: Db) -> None:
            with db.cursor() as cursor:
                cursor.executemany(
                    "UPDATE launches SET state = %s, native = %s, updated_at = %s"
                    f" WHERE ref = %s AND (state IS NULL OR state NOT IN {TERMINAL!r})",
                    [(state, native, now, ref) for ref, state, native in seen],
                )

        self.db.run("record run states", work)

    # -- queries ---------------------------------------------------------------------

    def _rows(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        return self.db.run("read it", lambda db: db.execute(sql, args).fetchall())

    def get(self, key: str) -> Launch | None:
        """The row with this key."""
        rows = self._rows(f"{_SELECT} WHERE key = %s", (key,))
        return _launch(rows[0]) if rows else None

    def by_ref(self, ref: str) -> Launch | None:
        """The row that launched run ``ref``."""
        rows = self._rows(f"{_SELECT} WHERE ref = %s LIMIT 1", (ref,))
        return _launch(rows[0]) if rows else None

    def runs(self, query: Query) -> list[Launch]:
        """Rows matching ``query``, newest first."""
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("backend", query.backend), ("batch", query.batch)):
            if value is not None:
                clauses.append(f"{column} = %s")
                args.append(value)
        if query.state == ERROR:
            clauses.append("ref IS NULL AND error IS NOT NULL")
        elif query.state is not None:
            clauses.append("state = %s")
            args.append(query.state)
        if query.since is not None:
            clauses.append("created_at >= %s")
            args.append(query.since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f" LIMIT {int(query.limit)}" if query.limit else ""
        sql = f"{_SELECT} {where} ORDER BY created_at DESC, seq DESC{tail}"
        return [_launch(r) for r in self._rows(sql, args)]

    def batch(self, batch: str) -> list[Launch]:
        """Every row of one batch, in the order recorded."""
        rows = self._rows(f"{_SELECT} WHERE batch = %s ORDER BY created_at, seq", (batch,))
        return [_launch(r) for r in rows]

    def owned_runs(self, backend: str) -> frozenset[str]:
        """Run ids already owned by a row of ``backend``."""
        rows = self._rows(
            "SELECT ref FROM launches WHERE backend = %s AND ref IS NOT NULL"
            " UNION SELECT ref FROM pruned WHERE backend = %s",
            (backend, backend),
        )
        return frozenset(r["ref"].partition(":")[2] for r in rows)

    def known_keys(self, batch: str) -> frozenset[str]:
        """Every key this ledger may have sent for ``batch``."""
        rows = self._rows(
            "SELECT key FROM launches WHERE batch = %s"
            " AND (attempted_at IS NOT NULL OR ref IS NOT NULL)"
            " UNION SELECT key FROM pruned WHERE batch = %s",
            (batch, batch),
        )
        return frozenset(r["key"] for r in rows)

    # -- specs and attempts ----------------------------------------------------------

    def keep_specs(self, items: Sequence[tuple[str, Any, str | None]]) -> None:
        """Record each new launch's spec and the launch it repeats."""
        if not items:
            return

        def work(db: Db) -> None:
            db.execute(
                "DELETE FROM launch_specs s WHERE NOT EXISTS"
                " (SELECT 1 FROM launches l WHERE l.key = s.key)"
                " AND NOT EXISTS (SELECT 1 FROM pruned p WHERE p.key = s.key)"
            )
            with db.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO launch_specs (key, spec, previous) VALUES (%s, %s, %s)"
                    " ON CONFLICT (key) DO NOTHING",
                    [(key, json.dumps(spec, sort_keys=True), prev) for key, spec, prev in items],
                )

        self.db.run("record launch specs", work)

    def spec_record(self, key: str) -> SpecRecord | None:
        """The spec launch ``key`` was made with."""
        rows = self._rows("SELECT spec, previous FROM launch_specs WHERE key = %s", (key,))
        return SpecRecord(json.loads(rows[0]["spec"]), rows[0]["previous"]) if rows else None

    def relaunches(self, key: str) -> list[Launch]:
        """The launches made to repeat ``key``, oldest first."""
        columns = ", ".join(f"l.{f.name}" for f in fields(Launch))
        rows = self._rows(
            f"SELECT {columns} FROM launches l JOIN launch_specs s ON s.key = l.key"
            " WHERE s.previous = %s ORDER BY l.created_at, l.seq",
            (key,),
        )
        return [_launch(r) for r in rows]

    def attempts(self, batch: str, row_key: str) -> list[Launch]:
        """Every attempt of one batch row, first attempt first."""
        family = row_family(row_key)
        pattern = family.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._rows(
            f"{_SELECT} WHERE batch = %s AND (row_key = %s OR row_key LIKE %s)",
            (batch, family, pattern + ATTEMPT_MARK + "%"),
        )
        found = [_launch(r) for r in rows if row_family(r["row_key"]) == family]
        return sorted(found, key=lambda launch: attempt_of(launch.row_key))

    # -- chains (runhub/ledger/postgres_chains.py) ----------------------------------

    def keep_chain(
        self, chain: str, definition: Any, rows: Sequence[tuple[str, Any]], now: float
    ) -> None:
        """Record a chain and its rows once (see :class:`Store`)."""
        self.db.run(
            "record a chain", lambda db: postgres_chains.keep(db, chain, definition, rows, now)
        )

    def chain(self, chain: str) -> ChainRecord | None:
        """The chain with this id, its rows and its marks."""
        return self.db.run("read it", lambda db: postgres_chains.read(db, chain))

    def mark_chain(self, chain: str, marks: Sequence[ChainMark], now: float) -> None:
        """Record marks of a chain's steps and rows, first mark kept."""
        self.db.run(
            "record a chain's progress", lambda db: postgres_chains.mark(db, chain, marks, now)
        )

    # -- maintenance -----------------------------------------------------------------

    def prune(self, older_than: float, now: float) -> int:
        """Delete old finished and refused launches; batch rows keep a tombstone."""
        old = (
            "updated_at < %(t)s AND claim_owner IS NULL AND ("
            f"(ref IS NOT NULL AND state IN {TERMINAL!r}) OR (ref IS NULL AND error IS NOT NULL))"
        )
        args = {"t": older_than, "now": now}

        def work(db: Db) -> int:
            db.execute(
                f"INSERT INTO pruned ({_TOMB_COLUMNS})"
                " SELECT batch, row_key, key, backend, spec_hash, name, ref, ref_group, state,"
                " native, created_at, launched_at, %(now)s FROM launches"
                f" WHERE {old} AND batch IS NOT NULL AND row_key IS NOT NULL AND ref IS NOT NULL"
                " ON CONFLICT (batch, row_key) DO UPDATE SET key = excluded.key,"
                " ref = excluded.ref, state = excluded.state, pruned_at = excluded.pruned_at",
                args,
            )
            return db.execute(f"DELETE FROM launches WHERE {old}", args).rowcount

        return self.db.run("prune it", work)

    # -- whole ledger (runhub/ledger/postgres_transfer.py) --------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per table (see :class:`Store`)."""
        from runhub.ledger.postgres_transfer import counts

        return self.db.run("read it", counts)

    def export(self) -> Snapshot:
        """Every row, in one transaction."""
        from runhub.ledger.postgres_transfer import export

        return self.db.run("read it", export)

    def merge(self, snapshot: Snapshot) -> dict[str, int]:
        """Add the rows of ``snapshot`` this ledger lacks (see :class:`Store`)."""
        from runhub.ledger.postgres_transfer import merge

        return self.db.run("copy launches into it", lambda db: merge(db, snapshot))


def _launch(row: dict[str, Any]) -> Launch:
    return Launch(**row)
