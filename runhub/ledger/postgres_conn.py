"""The PostgreSQL ledger's connection: transactions that survive a lost server,
errors in one line for users, and migrations under an advisory lock.

Every store operation is one function run in one transaction by
:meth:`Connection.run`. When the connection breaks (the server restarted, the
network dropped it, even in the middle of ``COMMIT``), the function is run again on
a new connection, for up to :data:`RECONNECT_FOR` seconds. That is safe because
every operation of :class:`~runhub.ledger.postgres.PostgresStore` gives the same
rows whether it ran once or twice (inserts are insert-or-get, claims are
compare-and-swap on the owner, a send counts once per ``now``): a commit whose
answer was lost and is then retried writes nothing twice.

A server that cannot be reached when the ledger is first opened is not retried:
the command stops with one line before it launches anything.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from runhub.errors import ConfigError, LedgerError
from runhub.ledger.location import masked, password_of
from runhub.ledger.postgres_schema import CURRENT, LOCK_ID, MIGRATIONS

if TYPE_CHECKING:
    import psycopg

T = TypeVar("T")

#: Seconds an open ledger keeps reconnecting after its connection broke.
RECONNECT_FOR = 60.0
#: Seconds to wait for the server when connecting.
CONNECT_TIMEOUT = 10
_PAUSE = (0.1, 0.25, 0.5, 1.0, 2.0)
# SQLSTATEs after which the same transaction may simply be run again: a lost
# connection (08), the server shutting down or starting (57P01-57P03), and
# concurrency aborts (serialization failure, deadlock).
_RETRY_STATES = ("08", "57P01", "57P02", "57P03", "40001", "40P01")
INSTALL_HINT = "install it with: pip install 'runhub[postgres]'"


def import_psycopg(location: str) -> Any:
    """psycopg, or one line saying how to install it."""
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            f"ledger {masked(location)}: a PostgreSQL ledger needs psycopg 3, "
            f"which is not installed; {INSTALL_HINT}"
        ) from None
    return psycopg


class Connection:
    """One connection to the ledger's database, shared by a store's threads."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.location = masked(url)
        # The password as given (maybe %-encoded) and decoded: scrubbed from messages.
        secret = password_of(url)
        self._secrets = [s for s in {secret, quote(secret or "", safe="")} if s]
        self._psycopg = import_psycopg(url)
        self._lock = threading.RLock()
        self._conn: psycopg.Connection[Any] | None = None
        #: Times the connection was re-established after it broke (for tests).
        self.reconnects = 0

    def _connect(self) -> psycopg.Connection[Any]:
        from psycopg.rows import dict_row

        conn: psycopg.Connection[Any] = self._psycopg.connect(
            self.url,
            autocommit=True,
            row_factory=dict_row,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="runhub",
            keepalives=1,
            keepalives_idle=30,
            keepalives_interval=10,
            keepalives_count=3,
        )
        return conn

    def open(self) -> None:
        """Connect and migrate; one line (LedgerError) if either fails. No retry:
        at start, an unreachable server stops the command before it launches."""
        with self._lock:
            try:
                self._conn = self._connect()
                migrate(self._conn, self.location)
            except self._psycopg.Error as error:
                self.close()
                raise self.error(error, "open it") from None

    def run(self, doing: str, work: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``work(conn)`` in one transaction; run again on a new connection if the
        connection broke (see the module doc for why that is safe)."""
        psycopg = self._psycopg
        deadline = time.monotonic() + RECONNECT_FOR
        tries = 0
        with self._lock:
            while True:
                try:
                    if self._conn is None or self._conn.closed:
                        self._conn = self._connect()
                        self.reconnects += 1
                    with self._conn.transaction():
                        return work(self._conn)
                except psycopg.Error as error:
                    if not self._retryable(error) or time.monotonic() >= deadline:
                        raise self.error(error, doing) from None
                    self._drop()
                time.sleep(_PAUSE[min(tries, len(_PAUSE) - 1)])
                tries += 1

    def _retryable(self, error: Exception) -> bool:
        state = getattr(error, "sqlstate", None) or ""
        broken = self._conn is None or self._conn.closed or bool(getattr(self._conn, "broken", 0))
        return broken or state.startswith(_RETRY_STATES)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(self._psycopg.Error):
                conn.close()

    def close(self) -> None:
        """Close the connection (nothing is pending: every operation committed)."""
        with self._lock:
            self._drop()

    def error(self, error: Exception, doing: str) -> LedgerError:
        """``error`` from psycopg as one line: the ledger, what is wrong, what to do."""
        text = (str(error).strip().splitlines() or [type(error).__name__])[0]
        for secret in self._secrets:
            text = text.replace(secret, "***")
        state = getattr(error, "sqlstate", None) or ""
        lowered = text.lower()
        where = f"the ledger {self.location}"
        if "invalid" in lowered and ("connection option" in lowered or "uri" in lowered):
            what = "is not a valid PostgreSQL URL"
            todo = "write it as postgresql://user@host:port/database (RUNHUB_LEDGER or the profile)"
        elif "password authentication failed" in lowered or state in ("28P01", "28000"):
            what, todo = "refused the login", "check the user and password in the ledger's URL"
        elif state == "3D000" or ("database" in lowered and "does not exist" in lowered):
            what, todo = "has no such database", "create it (createdb) or fix the URL's database"
        elif state == "42501":
            what, todo = "may not be written by this user", "grant the user rights on the tables"
        elif state.startswith("53"):
            what, todo = "has no room left", "ask its administrator to free space, then run again"
        elif state == "" or state.startswith(_RETRY_STATES):
            what = "cannot be reached"
            todo = (
                "check that the server is up and the host and port in RUNHUB_LEDGER (or the "
                "profile's ledger) are right, then run again: nothing was launched unrecorded"
            )
        else:
            what, todo = "cannot be used", "check the server's log"
        return LedgerError(f"{where} {what} ({text}; could not {doing}): {todo}")


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The version recorded in ``runhub_schema`` (0 for an empty database)."""
    row = conn.execute("SELECT to_regclass('runhub_schema') IS NOT NULL AS present").fetchone()
    if not row or not row["present"]:
        return 0
    found = conn.execute("SELECT coalesce(max(version), 0) AS v FROM runhub_schema").fetchone()
    return int(found["v"]) if found else 0


def _refuse_newer(location: str, version: int) -> None:
    if version > CURRENT:
        raise LedgerError(
            f"ledger {location}: its schema (v{version}) is newer than this runhub "
            f"understands (v{CURRENT}); upgrade runhub"
        )


def migrate(conn: psycopg.Connection[Any], location: str) -> None:
    """Apply the steps this database lacks, forward only, under an advisory lock
    (other processes opening it meanwhile wait, then find it migrated)."""
    from runhub import __version__

    with conn.transaction():
        version = schema_version(conn)
    _refuse_newer(location, version)
    if version == CURRENT:
        return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_ID,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS runhub_schema (version INTEGER PRIMARY KEY,"
            " why TEXT NOT NULL, runhub TEXT NOT NULL,"
            " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        version = schema_version(conn)  # another process may have migrated meanwhile
        _refuse_newer(location, version)
        for step in MIGRATIONS[version:]:
            conn.execute(step.sql.encode())
            conn.execute(
                "INSERT INTO runhub_schema (version, why, runhub) VALUES (%s, %s, %s)",
                (step.version, step.why, __version__),
            )
