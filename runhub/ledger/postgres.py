"""The PostgreSQL store: one ledger shared by a team, on a database server.

The same :class:`~runhub.ledger.store.Store` operations as the SQLite store, each
one transaction (READ COMMITTED) through :class:`~.postgres_conn.Connection`:

- intents are insert-or-get: ``INSERT ... ON CONFLICT DO NOTHING`` on the key and on
  the unique (batch, row key), then a ``SELECT``; two processes recording the same
  batch at once get the same rows (the second waits on the first's uncommitted
  insert, then reads its row);
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

from runhub.ledger.postgres_conn import Connection, schema_version
from runhub.ledger.records import (
    ATTEMPT_MARK,
    ERROR,
    TERMINAL,
    Intent,
    Launch,
    SpecRecord,
    attempt_of,
    launch_key,
    random_key,
    row_family,
)
from runhub.ledger.store import Query, Result

if TYPE_CHECKING:
    import psycopg

    from runhub.ledger.transfer import Snapshot

    Db = psycopg.Connection[Any]

_COLUMNS = ", ".join(f.name for f in fields(Launch))
_SELECT = f"SELECT {_COLUMNS} FROM launches"
_NOT_LAUNCHED = "ref IS NULL"
_TOMB_COLUMNS = (
    "batch, row_key, key, backend, spec_hash, name, ref, ref_group, state, native,"
    " created_at, launched_at, pruned_at"
)


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
            return [_launch(_find(db, item) or _insert(db, item, now)) for item in wanted]

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
        """Record the latest state of runs (by ref)."""

        def work(db: Db) -> None:
            with db.cursor() as cursor:
                cursor.executemany(
                    "UPDATE launches SET state = %s, native = %s, updated_at = %s WHERE ref = %s",
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

    # -- whole-ledger reads and writes (runhub ledger info / copy) -------------------------

    def counts(self) -> dict[str, int]:
        """Rows per table: launches, tombstones, specs, and rows claimed right now."""
        from runhub.ledger.transfer import COUNTS_SQL

        rows = self._rows(COUNTS_SQL)
        return {str(r["name"]): int(r["n"]) for r in rows}

    def export(self) -> Snapshot:
        """Every row, for copying into another ledger."""
        from runhub.ledger.transfer import Snapshot

        def work(db: Db) -> Snapshot:
            launches = db.execute(f"{_SELECT} ORDER BY created_at, seq").fetchall()
            tombs = db.execute(f"SELECT {_TOMB_COLUMNS} FROM pruned").fetchall()
            specs = db.execute("SELECT key, spec, previous FROM launch_specs").fetchall()
            return Snapshot(
                [_launch(r) for r in launches],
                [dict(r) for r in tombs],
                [(r["key"], r["spec"], r["previous"]) for r in specs],
            )

        return self.db.run("read it", work)

    def merge(self, snapshot: Snapshot) -> dict[str, int]:
        """Add the rows of ``snapshot`` this ledger lacks (by key, and by batch and
        row); rows it has are left as they are. Returns the rows added per table."""
        from runhub.ledger.transfer import launch_values

        names = [f.name for f in fields(Launch)]
        marks = ", ".join(["%s"] * len(names))
        tomb_names = _TOMB_COLUMNS.split(", ")

        def work(db: Db) -> dict[str, int]:
            added = {"launches": 0, "pruned": 0, "specs": 0}
            for launch in snapshot.launches:
                added["launches"] += db.execute(
                    f"INSERT INTO launches ({_COLUMNS}) VALUES ({marks}) ON CONFLICT DO NOTHING",
                    launch_values(launch),
                ).rowcount
            for tomb in snapshot.tombstones:
                added["pruned"] += db.execute(
                    f"INSERT INTO pruned ({_TOMB_COLUMNS})"
                    f" SELECT {', '.join(['%s'] * len(tomb_names))}"
                    " WHERE NOT EXISTS (SELECT 1 FROM launches WHERE batch = %s AND row_key = %s)"
                    " ON CONFLICT DO NOTHING",
                    [*(tomb[n] for n in tomb_names), tomb["batch"], tomb["row_key"]],
                ).rowcount
            for key, spec, previous in snapshot.specs:
                added["specs"] += db.execute(
                    "INSERT INTO launch_specs (key, spec, previous) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    (key, spec, previous),
                ).rowcount
            return added

        return self.db.run("copy launches into it", work)


def _find(db: Db, item: Intent) -> dict[str, Any] | None:
    """The row an intent already has (see Store.intents), or None."""
    if item.key is not None:
        row = db.execute(f"{_SELECT} WHERE key = %s FOR UPDATE", (item.key,)).fetchone()
        if row is not None and _reusable(row, item):
            db.execute("DELETE FROM launches WHERE key = %s", (item.key,))
            return None
        if row is not None:
            return dict(row)
    if item.batch is None or item.row_key is None:
        return None
    where = (item.batch, item.row_key)
    row = db.execute(f"{_SELECT} WHERE batch = %s AND row_key = %s", where).fetchone()
    if row is not None:
        return dict(row)
    # A pruned row that had a run: it comes back with its key and ref, so the batch
    # re-attaches to that run instead of launching the row again.
    tomb = db.execute(
        f"DELETE FROM pruned WHERE batch = %s AND row_key = %s RETURNING {_TOMB_COLUMNS}", where
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
    back = db.execute(f"{_SELECT} WHERE key = %s", (tomb["key"],)).fetchone()
    return None if back is None else dict(back)


def _insert(db: Db, item: Intent, now: float) -> dict[str, Any]:
    """A new row for the intent, or the row a concurrent launcher just committed."""
    key = item.key
    if key is None and item.batch is not None and item.row_key is not None:
        key = launch_key(item.batch, item.row_key)
    key = key or random_key()
    row = db.execute(
        "INSERT INTO launches (key, backend, spec_hash, batch, row_key, name,"
        " created_at, updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
        f" ON CONFLICT DO NOTHING RETURNING {_COLUMNS}",
        (key, item.backend, item.spec_hash, item.batch, item.row_key, item.name, now, now),
    ).fetchone()
    if row is None:  # another process inserted it first (it committed; we waited)
        row = db.execute(f"{_SELECT} WHERE key = %s", (key,)).fetchone()
        if row is None and item.batch is not None and item.row_key is not None:
            row = db.execute(
                f"{_SELECT} WHERE batch = %s AND row_key = %s", (item.batch, item.row_key)
            ).fetchone()
    assert row is not None, f"launch {key} neither inserted nor found"
    return dict(row)


def _reusable(row: dict[str, Any], item: Intent) -> bool:
    """As the SQLite store: a caller's key may name a new launch when its row, for
    another spec, never created a run (refused, or never sent) and nobody holds it."""
    other = (row["spec_hash"], row["backend"]) != (item.spec_hash, item.backend)
    unused = row["ref"] is None and (row["error"] is not None or row["attempted_at"] is None)
    return other and unused and row["claim_owner"] is None


def _launch(row: dict[str, Any]) -> Launch:
    return Launch(**row)
