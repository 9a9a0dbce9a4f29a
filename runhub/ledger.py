"""The ledger: a SQLite record of every launch, written *before* the request.

Each launch first records its intent (backend, spec hash, batch id, row key and a
fresh launch key), then the platform's answer. Re-running after a crash finds the
intent and reuses its key, so ICA's Idempotency-Key replays the first answer and
backends without keys (Code Ocean) look the earlier run up (``Backend.recover``)
instead of launching twice.

Standard-library sqlite3 in WAL mode with a busy timeout: several runhub processes
can use one ledger at once. The schema is versioned (``PRAGMA user_version``) and
migrated forward on open. No secrets are ever written here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from runhub.ref import RunRef
    from runhub.state import RunStatus

#: Forward migrations; index i migrates user_version i -> i + 1.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE launches (
        key         TEXT PRIMARY KEY,
        backend     TEXT NOT NULL,
        spec_hash   TEXT NOT NULL,
        batch       TEXT,
        row_key     TEXT,
        name        TEXT,
        ref         TEXT,
        state       TEXT,
        native      TEXT,
        error       TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        created_at  REAL NOT NULL,
        attempted_at REAL,
        launched_at REAL,
        updated_at  REAL NOT NULL
    );
    CREATE UNIQUE INDEX launches_batch_row ON launches(batch, row_key)
        WHERE batch IS NOT NULL AND row_key IS NOT NULL;
    CREATE INDEX launches_ref ON launches(ref);
    CREATE INDEX launches_created ON launches(created_at);
    """,
    # v2: the polling-group hint of the run's ref (RunRef.batch), so runs launched
    # by one process can be polled cheaply by another.
    """
    ALTER TABLE launches ADD COLUMN ref_group TEXT;
    """,
    # v3: the spec each launch was made with, and the launch it repeats (relaunch,
    # batch --retry-failed). Rows whose launch was pruned are dropped by keep_specs.
    """
    CREATE TABLE launch_specs (
        key       TEXT PRIMARY KEY,
        spec      TEXT NOT NULL,
        previous  TEXT
    );
    CREATE INDEX launch_specs_previous ON launch_specs(previous);
    """,
)
#: Separates a batch row's key from its attempt number (``<row key>@2``).
ATTEMPT_MARK = "@"
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


class Intent(NamedTuple):
    """A launch about to happen: what :meth:`Ledger.intents` records."""

    backend: str
    spec_hash: str
    batch: str | None = None
    row_key: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class Launch:
    """One row of the ledger."""

    key: str
    backend: str
    spec_hash: str
    batch: str | None
    row_key: str | None
    name: str | None
    ref: str | None
    state: str | None
    native: str | None
    error: str | None
    attempts: int
    created_at: float
    attempted_at: float | None
    launched_at: float | None
    updated_at: float
    ref_group: str | None = None

    def run_ref(self) -> RunRef | None:
        """The run's ref with its polling-group hint, once launched."""
        from runhub.ref import RunRef

        return None if self.ref is None else RunRef.parse(self.ref, batch=self.ref_group)

    @property
    def launched(self) -> bool:
        """True once the platform's answer (a run ref) is recorded."""
        return self.ref is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable shape (``runhub runs -o json``)."""
        return {
            "ref": self.ref,
            "name": self.name,
            "backend": self.backend,
            "batch": self.batch,
            "row": self.row_key,
            "state": self.state,
            "native": self.native,
            "error": self.error,
            "key": self.key,
            "created_at": _iso(self.created_at),
            "launched_at": _iso(self.launched_at),
            "updated_at": _iso(self.updated_at),
        }


def _iso(value: float | None) -> str | None:
    if value is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))


class Ledger:
    """The launch ledger at ``path`` (default ``<runhub home>/ledger.sqlite``)."""

    def __init__(self, path: str | Path | None = None) -> None:
        if path is None:
            from runhub.config import runhub_home

            path = runhub_home() / "ledger.sqlite"
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._tx() as db:
            self._migrate(db)

    def __repr__(self) -> str:
        return f"<Ledger {self.path}>"

    # -- connection ------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection."""
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise RuntimeError(
                f"the ledger schema (v{version}) is newer than this runhub understands "
                f"(v{len(MIGRATIONS)}); upgrade runhub"
            )
        for index in range(version, len(MIGRATIONS)):
            for statement in MIGRATIONS[index].split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {index + 1}")

    @property
    def schema_version(self) -> int:
        """The schema version on disk."""
        return int(self._db().execute("PRAGMA user_version").fetchone()[0])

    # -- writes ----------------------------------------------------------------------

    def intent(
        self,
        backend: str,
        spec_hash: str,
        *,
        batch: str | None = None,
        row_key: str | None = None,
        name: str | None = None,
    ) -> Launch:
        """Record that a launch is about to happen, and return its row.

        For a (batch, row) seen before, the existing row comes back with its
        original key (and its ref, if it was launched): this is what makes
        re-running a batch launch nothing twice.
        """
        return self.intents([Intent(backend, spec_hash, batch, row_key, name)])[0]

    def intents(self, wanted: Sequence[Intent]) -> list[Launch]:
        """:meth:`intent` for many launches, in one transaction (a batch's rows)."""
        now = time.time()
        found: list[Launch] = []
        with self._tx() as db:
            for item in wanted:
                row = None
                if item.batch is not None and item.row_key is not None:
                    row = db.execute(
                        "SELECT * FROM launches WHERE batch = ? AND row_key = ?",
                        (item.batch, item.row_key),
                    ).fetchone()
                if row is None:
                    key = uuid.uuid4().hex
                    db.execute(
                        "INSERT INTO launches (key, backend, spec_hash, batch, row_key, name,"
                        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (key, *item, now, now),
                    )
                    row = db.execute("SELECT * FROM launches WHERE key = ?", (key,)).fetchone()
                found.append(Launch(**dict(row)))
        return found

    def attempt(self, key: str) -> Launch:
        """Mark that the launch request is about to be sent (once per try)."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE launches SET attempts = attempts + 1,"
                " attempted_at = COALESCE(attempted_at, ?), updated_at = ? WHERE key = ?",
                (now, now, key),
            )
            row = db.execute("SELECT * FROM launches WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return Launch(**dict(row))

    def launched(self, key: str, status: RunStatus) -> None:
        """Record the platform's answer to a launch."""
        now = time.time()
        with self._tx() as db:
            db.execute(
                "UPDATE launches SET ref = ?, ref_group = ?, state = ?, native = ?,"
                " name = COALESCE(name, ?), error = NULL, launched_at = ?, updated_at = ?"
                " WHERE key = ?",
                (
                    str(status.ref),
                    status.ref.batch,
                    status.state.value,
                    status.native,
                    status.name,
                    now,
                    now,
                    key,
                ),
            )

    def failed(self, key: str, error: str) -> None:
        """Record that a launch failed for sure (nothing was created)."""
        with self._tx() as db:
            db.execute(
                "UPDATE launches SET error = ?, updated_at = ? WHERE key = ?",
                (error, time.time(), key),
            )

    def observe(self, statuses: Sequence[RunStatus]) -> None:
        """Record the latest known state of runs (by ref)."""
        if not statuses:
            return
        now = time.time()
        with self._tx() as db:
            db.executemany(
                "UPDATE launches SET state = ?, native = ?, updated_at = ? WHERE ref = ?",
                [(s.state.value, s.native, now, str(s.ref)) for s in statuses],
            )

    def prune(self, older_than: float) -> int:
        """Delete terminal launches last updated before ``older_than`` (epoch s)."""
        with self._tx() as db:
            cursor = db.execute(
                f"DELETE FROM launches WHERE updated_at < ? AND state IN {TERMINAL!r}",
                (older_than,),
            )
            return cursor.rowcount

    # -- reads -----------------------------------------------------------------------

    def get(self, key: str) -> Launch | None:
        """The launch with this key."""
        row = self._db().execute("SELECT * FROM launches WHERE key = ?", (key,)).fetchone()
        return Launch(**dict(row)) if row else None

    def by_ref(self, ref: str) -> Launch | None:
        """The launch that produced run ``ref``."""
        row = self._db().execute("SELECT * FROM launches WHERE ref = ?", (ref,)).fetchone()
        return Launch(**dict(row)) if row else None

    def claimed(self, backend: str) -> frozenset[str]:
        """Run ids (the part after ``backend:``) already owned by a launch."""
        rows = self._db().execute(
            "SELECT ref FROM launches WHERE backend = ? AND ref IS NOT NULL", (backend,)
        )
        return frozenset(r[0].partition(":")[2] for r in rows)

    def runs(
        self,
        *,
        backend: str | None = None,
        state: str | None = None,
        batch: str | None = None,
        since: float | None = None,
        limit: int | None = 100,
    ) -> list[Launch]:
        """Launches, newest first, filtered."""
        clauses: list[str] = []
        args: list[Any] = []
        for column, value in (("backend", backend), ("state", state), ("batch", batch)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        if since is not None:
            clauses.append("created_at >= ?")
            args.append(since)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        tail = f" LIMIT {int(limit)}" if limit else ""
        query = f"SELECT * FROM launches {where} ORDER BY created_at DESC, rowid DESC{tail}"
        return [Launch(**dict(r)) for r in self._db().execute(query, args)]

    def batch(self, batch: str) -> list[Launch]:
        """Every launch of one batch, in row order of creation."""
        rows = self._db().execute(
            "SELECT * FROM launches WHERE batch = ? ORDER BY created_at, rowid", (batch,)
        )
        return [Launch(**dict(r)) for r in rows]

    # -- launch specs and attempts (relaunch, batch --retry-failed) --------------------
    #
    # Kept apart from the launch rows: a launch's spec and the launch it repeats are
    # written once, beside its intent, and read by ``show`` and ``relaunch``. A batch
    # row's later attempts are rows of their own whose row key is ``<row key>@<n>``
    # (n >= 2), so every attempt keeps its run and (batch, row) stays unique.

    def keep_specs(self, items: Sequence[tuple[str, Any, str | None]]) -> None:
        """Record (launch key, spec data, previous launch key) for new launches;
        a launch that already has its spec keeps the first one."""
        if not items:
            return
        with self._tx() as db:
            db.execute("DELETE FROM launch_specs WHERE key NOT IN (SELECT key FROM launches)")
            db.executemany(
                "INSERT OR IGNORE INTO launch_specs (key, spec, previous) VALUES (?, ?, ?)",
                [(key, json.dumps(spec, sort_keys=True), prev) for key, spec, prev in items],
            )

    def spec_record(self, key: str) -> SpecRecord | None:
        """The spec launch ``key`` was made with, and the launch it repeats."""
        row = (
            self._db()
            .execute("SELECT spec, previous FROM launch_specs WHERE key = ?", (key,))
            .fetchone()
        )
        return None if row is None else SpecRecord(json.loads(row[0]), row[1])

    def relaunches(self, key: str) -> list[Launch]:
        """The launches made to repeat launch ``key``, oldest first."""
        rows = self._db().execute(
            "SELECT l.* FROM launches l JOIN launch_specs s ON s.key = l.key"
            " WHERE s.previous = ? ORDER BY l.created_at, l.rowid",
            (key,),
        )
        return [Launch(**dict(r)) for r in rows]

    def attempts(self, batch: str, row_key: str) -> list[Launch]:
        """Every attempt of one batch row (any attempt's row key), first attempt first."""
        family = row_family(row_key)
        rows = self._db().execute(
            "SELECT * FROM launches WHERE batch = ? AND (row_key = ? OR row_key LIKE ?)",
            (batch, family, family.replace("%", "_") + ATTEMPT_MARK + "%"),
        )
        found = [Launch(**dict(r)) for r in rows if row_family(r["row_key"]) == family]
        return sorted(found, key=lambda launch: attempt_of(launch.row_key))


@dataclass(frozen=True)
class SpecRecord:
    """The spec a launch was made with, and the launch it repeats (if any)."""

    spec: dict[str, Any]
    previous: str | None


def attempt_of(row_key: str | None) -> int:
    """The attempt number a batch row key carries (1 for the first attempt)."""
    if not row_key:
        return 1
    base, mark, number = row_key.rpartition(ATTEMPT_MARK)
    return int(number) if mark and base and number.isdigit() else 1


def row_family(row_key: str) -> str:
    """The first attempt's row key, from any attempt's row key."""
    base, mark, number = row_key.rpartition(ATTEMPT_MARK)
    return base if mark and base and number.isdigit() else row_key


def attempt_key(row_key: str, attempt: int) -> str:
    """The row key of attempt number ``attempt`` of a row (1: the row key itself)."""
    family = row_family(row_key)
    return family if attempt <= 1 else f"{family}{ATTEMPT_MARK}{attempt}"
