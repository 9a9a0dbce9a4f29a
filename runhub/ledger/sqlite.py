"""The SQLite store: the embedded default ledger, one file per user and machine.

Standard-library sqlite3 in WAL mode with a busy timeout, so several runhub
processes use one ledger at once; every operation is one ``BEGIN IMMEDIATE``
transaction (a write lock for its whole duration), which is what makes claims
atomic across processes. One connection per store, shared by its threads under
a lock.

The file is whole on its own only after a checkpoint: :meth:`SqliteStore.close`
checkpoints the ``-wal`` file into ``ledger.sqlite`` (and every store still open
is closed at interpreter exit, even after ``gc.freeze()``), and
:meth:`SqliteStore.backup` copies a consistent snapshot at any time.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runhub.errors import LedgerError
from runhub.ledger import sqlite_chains
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
    launch_key,
    random_key,
    row_family,
)
from runhub.ledger.sqlite_files import Counts, Mark, check_mark, guarded, until_unlocked
from runhub.ledger.sqlite_schema import MIGRATIONS
from runhub.ledger.store import Query, Result

if TYPE_CHECKING:
    from runhub.ledger.transfer import Snapshot

#: Seconds a write waits for another process's transaction before failing.
BUSY_TIMEOUT = 30.0
_OPEN: weakref.WeakSet[SqliteStore] = weakref.WeakSet()
_NOT_LAUNCHED = "ref IS NULL"


class SqliteStore:
    """The ledger in the SQLite file at ``path`` (created and migrated on open)."""

    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self.location = str(path)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._mark = Mark(path)
        with guarded(path, "open it"):
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._tx() as db:
                self._migrate(db)
        _OPEN.add(self)

    def __repr__(self) -> str:
        return f"<SqliteStore {self.path}>"

    # -- connection ------------------------------------------------------------------

    @property
    def connection(self) -> sqlite3.Connection:
        """The open connection (opened on first use)."""
        if self._conn is None:
            db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
            db.row_factory = sqlite3.Row
            until_unlocked(lambda: db.execute("PRAGMA journal_mode=WAL"), BUSY_TIMEOUT)
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
            self._conn = db
        return self._conn

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self.connection
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextlib.contextmanager
    def _write(self, doing: str) -> Iterator[sqlite3.Connection]:
        with guarded(self.path, doing), self._tx() as db:
            yield db

    def _read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with guarded(self.path, "read it"), self._lock:
            return list(self.connection.execute(sql, args))

    def _migrate(self, db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise LedgerError(
                f"ledger {self.path}: its schema (v{version}) is newer than this runhub "
                f"understands (v{len(MIGRATIONS)}); upgrade runhub"
            )
        for index in range(version, len(MIGRATIONS)):
            for statement in MIGRATIONS[index].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {index + 1}")

    def schema_version(self) -> int:
        """The schema version on disk."""
        return int(self._read("PRAGMA user_version")[0][0])

    def close(self) -> None:
        """Checkpoint the ``-wal`` file into the ledger file and close."""
        with self._lock:
            db, self._conn = self._conn, None
            self._mark.close()
        if db is None:
            return
        with contextlib.suppress(sqlite3.Error):
            # Quickly: a process still writing checkpoints when it closes in turn.
            db.execute("PRAGMA busy_timeout=250")
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        with contextlib.suppress(sqlite3.Error):
            db.close()

    def backup(self, dest: Path) -> int:
        """Copy a consistent snapshot into the new file ``dest`` (self-contained: no
        ``-wal``); returns the launches it holds."""
        with guarded(dest, "write the backup"):
            target = sqlite3.connect(dest, isolation_level=None)
            try:
                with guarded(self.path, "read it"), self._lock:
                    self.connection.backup(target)
                target.execute("PRAGMA journal_mode=DELETE")
                return int(target.execute("SELECT count(*) FROM launches").fetchone()[0])
            finally:
                target.close()

    # -- intents ---------------------------------------------------------------------

    def intents(self, wanted: Sequence[Intent], now: float) -> list[Launch]:
        """Insert-or-get one row per intent, in one transaction."""
        found: list[Launch] = []
        with self._write("record the launches") as db:
            counts = _counts(db)
            check_mark(self.path, counts)
            added = 0
            for item in wanted:
                row = self._find(db, item)
                if row is None:
                    row = self._insert(db, item, now)
                    added += 1
                found.append(_launch(row))
            if added:
                counts = _count(db, "written", added)
        if added:
            self._mark.raise_to(counts)
        return found

    @staticmethod
    def _find(db: sqlite3.Connection, item: Intent) -> sqlite3.Row | None:
        if item.key is not None:
            row: sqlite3.Row | None = db.execute(
                "SELECT * FROM launches WHERE key = ?", (item.key,)
            ).fetchone()
            if row is not None and _reusable(row, item):
                db.execute("DELETE FROM launches WHERE key = ?", (item.key,))
                return None
            if row is not None:
                return row
        if item.batch is None or item.row_key is None:
            return None
        where = (item.batch, item.row_key)
        row = db.execute("SELECT * FROM launches WHERE batch = ? AND row_key = ?", where).fetchone()
        if row is not None:
            return row
        tomb = db.execute("SELECT * FROM pruned WHERE batch = ? AND row_key = ?", where).fetchone()
        if tomb is None:
            return None
        # A pruned row that had a run: it comes back with its key and ref, so the
        # batch re-attaches to that run instead of launching the row again.
        db.execute(
            "INSERT INTO launches (key, backend, spec_hash, batch, row_key, name, ref, ref_group,"
            " state, native, attempts, created_at, attempted_at, launched_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?)",
            (
                tomb["key"],
                tomb["backend"],
                tomb["spec_hash"],
                tomb["batch"],
                tomb["row_key"],
                tomb["name"],
                tomb["ref"],
                tomb["ref_group"],
                tomb["state"],
                tomb["native"],
                tomb["created_at"],
                tomb["launched_at"],
                tomb["launched_at"],
                tomb["pruned_at"],
            ),
        )
        db.execute("DELETE FROM pruned WHERE batch = ? AND row_key = ?", where)
        back: sqlite3.Row = db.execute(
            "SELECT * FROM launches WHERE key = ?", (tomb["key"],)
        ).fetchone()
        return back

    @staticmethod
    def _insert(db: sqlite3.Connection, item: Intent, now: float) -> sqlite3.Row:
        key = item.key
        if key is None and item.batch is not None and item.row_key is not None:
            key = launch_key(item.batch, item.row_key)
        key = key or random_key()
        db.execute(
            "INSERT INTO launches (key, backend, spec_hash, batch, row_key, name,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (key, item.backend, item.spec_hash, item.batch, item.row_key, item.name, now, now),
        )
        row: sqlite3.Row = db.execute("SELECT * FROM launches WHERE key = ?", (key,)).fetchone()
        return row

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
        with self._write("claim a launch") as db:
            cursor = db.execute(
                "UPDATE launches SET claim_owner = :owner, claim_until = :until,"
                " sent_at = CASE WHEN :settle IS NOT NULL AND attempted_at IS NOT NULL"
                "   THEN max(coalesce(sent_at, 0), :settle) ELSE sent_at END"
                f" WHERE key = :key AND {_NOT_LAUNCHED} AND (claim_owner IS NULL"
                "   OR claim_owner = :owner OR (claim_owner = :old"
                "   AND (:dead OR claim_until IS NULL OR claim_until < :now)))",
                {
                    "owner": owner,
                    "until": until,
                    "settle": settle_from,
                    "key": key,
                    "old": replacing,
                    "dead": dead,
                    "now": now,
                },
            )
            if cursor.rowcount != 1:
                return None
            return _launch(db.execute("SELECT * FROM launches WHERE key = ?", (key,)).fetchone())

    def sent(self, key: str, owner: str, until: float, now: float) -> bool:
        """Record a send under ``owner``'s claim (see :class:`Store`)."""
        with self._write("record a launch attempt") as db:
            cursor = db.execute(
                "UPDATE launches SET attempts = attempts + 1,"
                " attempted_at = coalesce(attempted_at, :now), sent_at = :now,"
                " claim_until = :until, updated_at = :now"
                f" WHERE key = :key AND claim_owner = :owner AND {_NOT_LAUNCHED}",
                {"now": now, "until": until, "key": key, "owner": owner},
            )
            if cursor.rowcount != 1:
                return False
            counts = _count(db, "sent", 1)
        self._mark.raise_to(counts)
        return True

    def renew(self, key: str, owner: str, until: float) -> bool:
        """Extend ``owner``'s lease (see :class:`Store`)."""
        with self._write("renew a claim") as db:
            cursor = db.execute(
                "UPDATE launches SET claim_until = ?"
                f" WHERE key = ? AND claim_owner = ? AND {_NOT_LAUNCHED}",
                (until, key, owner),
            )
            return cursor.rowcount == 1

    def release(self, key: str, owner: str) -> None:
        """End ``owner``'s claim on the row, if it still holds it."""
        with self._write("release a claim") as db:
            db.execute(
                "UPDATE launches SET claim_owner = NULL, claim_until = NULL"
                " WHERE key = ? AND claim_owner = ?",
                (key, owner),
            )

    # -- attempts and results --------------------------------------------------------

    def attempt(self, keys: Sequence[str], now: float) -> None:
        """Mark rows attempted (no claim needed)."""
        with self._write("record a launch attempt") as db:
            db.executemany(
                "UPDATE launches SET attempts = attempts + 1,"
                " attempted_at = coalesce(attempted_at, ?), updated_at = ? WHERE key = ?",
                [(now, now, key) for key in keys],
            )
            counts = _count(db, "sent", len(keys))
        self._mark.raise_to(counts)

    def launched(self, key: str, result: Result, now: float) -> None:
        """Record the platform's answer to a launch."""
        with self._write("record a launched run") as db:
            db.execute(
                "UPDATE launches SET ref = ?, ref_group = ?, state = ?, native = ?,"
                " name = coalesce(name, ?), error = NULL, launched_at = ?, updated_at = ?,"
                " claim_owner = NULL, claim_until = NULL WHERE key = ?",
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
            )

    def failed(self, key: str, error: str, now: float) -> None:
        """Record that the platform refused the launch."""
        with self._write("record a failed launch") as db:
            db.execute(
                "UPDATE launches SET error = ?, updated_at = ?,"
                " claim_owner = NULL, claim_until = NULL WHERE key = ?",
                (error, now, key),
            )

    def grouped(self, keys: Sequence[str], note: str, now: float) -> None:
        """Record the group request the rows are sent in."""
        with self._write("record the request a group of launches is sent in") as db:
            db.executemany(
                "UPDATE launches SET launch_group = ?, updated_at = ? WHERE key = ?",
                [(note, now, key) for key in keys],
            )

    def discard(self, key: str) -> None:
        """Delete a row that never sent anything."""
        with self._write("forget a launch that sent nothing") as db:
            db.execute(
                "DELETE FROM launches WHERE key = ? AND ref IS NULL AND attempted_at IS NULL",
                (key,),
            )

    # -- status cache ----------------------------------------------------------------

    def observe(self, seen: Sequence[tuple[str, str, str | None]], now: float) -> None:
        """Record the latest state of runs (by ref); a terminal state is kept."""
        final = ", ".join(f"'{state}'" for state in TERMINAL)
        with self._write("record run states") as db:
            db.executemany(
                "UPDATE launches SET state = ?, native = ?, updated_at = ?"
                f" WHERE ref = ? AND (state IS NULL OR state NOT IN ({final}))",
                [(state, native, now, ref) for ref, state, native in seen],
            )

    # -- queries ---------------------------------------------------------------------

    def get(self, key: str) -> Launch | None:
        """The row with this key."""
        rows = self._read("SELECT * FROM launches WHERE key = ?", (key,))
        return _launch(rows[0]) if rows else None

    def by_ref(self, ref: str) -> Launch | None:
        """The row that launched run ``ref``."""
        rows = self._read("SELECT * FROM launches WHERE ref = ?", (ref,))
        return _launch(rows[0]) if rows else None

    def runs(self, query: Query) -> list[Launch]:
        """Rows matching ``query``, newest first."""
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("backend", query.backend), ("batch", query.batch)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if query.state == ERROR:
            clauses.append("ref IS NULL AND error IS NOT NULL")
        elif query.state is not None:
            clauses.append("state = ?")
            args.append(query.state)
        if query.since is not None:
            clauses.append("created_at >= ?")
            args.append(query.since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f" LIMIT {int(query.limit)}" if query.limit else ""
        sql = f"SELECT * FROM launches {where} ORDER BY created_at DESC, rowid DESC{tail}"
        return [_launch(r) for r in self._read(sql, args)]

    def batch(self, batch: str) -> list[Launch]:
        """Every row of one batch, in the order recorded."""
        rows = self._read(
            "SELECT * FROM launches WHERE batch = ? ORDER BY created_at, rowid", (batch,)
        )
        return [_launch(r) for r in rows]

    def owned_runs(self, backend: str) -> frozenset[str]:
        """Run ids already owned by a row of ``backend``."""
        rows = self._read(
            "SELECT ref FROM launches WHERE backend = ? AND ref IS NOT NULL"
            " UNION SELECT ref FROM pruned WHERE backend = ?",
            (backend, backend),
        )
        return frozenset(r[0].partition(":")[2] for r in rows)

    def known_keys(self, batch: str) -> frozenset[str]:
        """Every key this ledger may have sent for ``batch``."""
        rows = self._read(
            "SELECT key FROM launches WHERE batch = ?"
            " AND (attempted_at IS NOT NULL OR ref IS NOT NULL)"
            " UNION SELECT key FROM pruned WHERE batch = ?",
            (batch, batch),
        )
        return frozenset(r[0] for r in rows)

    # -- specs and attempts ----------------------------------------------------------

    def keep_specs(self, items: Sequence[tuple[str, Any, str | None]]) -> None:
        """Record each new launch's spec and the launch it repeats."""
        if not items:
            return
        with self._write("record launch specs") as db:
            db.execute(
                "DELETE FROM launch_specs WHERE key NOT IN"
                " (SELECT key FROM launches UNION SELECT key FROM pruned)"
            )
            db.executemany(
                "INSERT OR IGNORE INTO launch_specs (key, spec, previous) VALUES (?, ?, ?)",
                [(key, json.dumps(spec, sort_keys=True), prev) for key, spec, prev in items],
            )

    def spec_record(self, key: str) -> SpecRecord | None:
        """The spec launch ``key`` was made with."""
        rows = self._read("SELECT spec, previous FROM launch_specs WHERE key = ?", (key,))
        return SpecRecord(json.loads(rows[0][0]), rows[0][1]) if rows else None

    def relaunches(self, key: str) -> list[Launch]:
        """The launches made to repeat ``key``, oldest first."""
        rows = self._read(
            "SELECT l.* FROM launches l JOIN launch_specs s ON s.key = l.key"
            " WHERE s.previous = ? ORDER BY l.created_at, l.rowid",
            (key,),
        )
        return [_launch(r) for r in rows]

    def attempts(self, batch: str, row_key: str) -> list[Launch]:
        """Every attempt of one batch row, first attempt first."""
        family = row_family(row_key)
        rows = self._read(
            "SELECT * FROM launches WHERE batch = ? AND (row_key = ? OR row_key LIKE ?)",
            (batch, family, family.replace("%", "_") + ATTEMPT_MARK + "%"),
        )
        found = [_launch(r) for r in rows if row_family(r["row_key"]) == family]
        return sorted(found, key=lambda launch: attempt_of(launch.row_key))

    # -- chains (runhub/ledger/sqlite_chains.py) ------------------------------------

    def keep_chain(
        self, chain: str, definition: Any, rows: Sequence[tuple[str, Any]], now: float
    ) -> None:
        """Record a chain and its rows once (see :class:`Store`)."""
        with self._write("record a chain") as db:
            sqlite_chains.keep(db, chain, definition, rows, now)

    def chain(self, chain: str) -> ChainRecord | None:
        """The chain with this id, its rows and its marks."""
        with guarded(self.path, "read it"), self._lock:
            return sqlite_chains.read(self.connection, chain)

    def mark_chain(self, chain: str, marks: Sequence[ChainMark], now: float) -> None:
        """Record marks of a chain's steps and rows, first mark kept."""
        with self._write("record a chain's progress") as db:
            sqlite_chains.mark(db, chain, marks, now)

    # -- maintenance -----------------------------------------------------------------

    def prune(self, older_than: float, now: float) -> int:
        """Delete old finished and refused launches; batch rows keep a tombstone."""
        old = (
            "updated_at < :t AND claim_owner IS NULL AND ("
            f"(ref IS NOT NULL AND state IN {TERMINAL!r}) OR (ref IS NULL AND error IS NOT NULL))"
        )
        with self._write("prune it") as db:
            db.execute(
                "INSERT OR REPLACE INTO pruned (batch, row_key, key, backend, spec_hash, name,"
                " ref, ref_group, state, native, created_at, launched_at, pruned_at)"
                " SELECT batch, row_key, key, backend, spec_hash, name, ref, ref_group, state,"
                " native, created_at, launched_at, :now FROM launches"
                f" WHERE {old} AND batch IS NOT NULL AND row_key IS NOT NULL AND ref IS NOT NULL",
                {"t": older_than, "now": now},
            )
            cursor = db.execute(f"DELETE FROM launches WHERE {old}", {"t": older_than})
            return cursor.rowcount

    # -- whole ledger (runhub/ledger/sqlite_transfer.py) ---------------------------------

    def counts(self) -> dict[str, int]:
        """Rows per table (see :class:`Store`)."""
        from runhub.ledger import sqlite_transfer

        with guarded(self.path, "read it"), self._lock:
            return sqlite_transfer.counts(self.connection)

    def export(self) -> Snapshot:
        """Every row, in one transaction."""
        from runhub.ledger import sqlite_transfer

        with self._write("read it") as db:
            return sqlite_transfer.export(db)

    def merge(self, snapshot: Snapshot) -> dict[str, int]:
        """Add the rows of ``snapshot`` this ledger lacks (see :class:`Store`)."""
        from runhub.ledger import sqlite_transfer

        with self._write("copy launches into it") as db:
            check_mark(self.path, _counts(db))
            added, sends = sqlite_transfer.merge(db, snapshot)
            counts = _count(db, "written", added["launches"])
            counts = _count(db, "sent", sends)
        self._mark.raise_to(counts)
        return added


def _counts(db: sqlite3.Connection) -> Counts:
    values = dict(db.execute("SELECT name, value FROM meta").fetchall())
    return Counts(str(values["ledger_id"]), int(values["written"]), int(values["sent"]))


def _count(db: sqlite3.Connection, name: str, more: int) -> Counts:
    """Add ``more`` to counter ``name``; the counts after."""
    db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + ? WHERE name = ?", (more, name))
    return _counts(db)


def _reusable(row: sqlite3.Row, item: Intent) -> bool:
    """A caller's key may name a new launch when its row, for another spec, never
    created a run: refused by the platform, or never sent (ICA too stores no error)."""
    other = (row["spec_hash"], row["backend"]) != (item.spec_hash, item.backend)
    unused = row["ref"] is None and (row["error"] is not None or row["attempted_at"] is None)
    return other and unused and row["claim_owner"] is None


def _launch(row: sqlite3.Row) -> Launch:
    return Launch(**dict(row))


@atexit.register
def _close_all() -> None:
    """Checkpoint every ledger still open when the interpreter exits."""
    for store in list(_OPEN):
        store.close()
