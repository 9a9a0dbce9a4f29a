"""``Ledger``: the record of every launch, written before its request is sent.

What clients and commands use. It keeps the policy and leaves storage to a
:class:`~runhub.ledger.store.Store` (SQLite by default):

1. an *intent* (backend, spec hash, batch id, row key, launch key) is recorded
   before any request; a batch row's key is derived from the batch and row, so a
   re-run, and any other ledger, uses the same key;
2. before sending, a launch *claims* its row with a lease (:mod:`.claims`); a row
   held by a live launch elsewhere is never sent here;
3. each request that may create the run is recorded (:meth:`Ledger.sent`) under
   the claim, then the platform's answer (:meth:`Ledger.launched`).

A re-run after a crash finds the intent and its key: ICA's Idempotency-Key replays
the first answer, and backends without keys look the earlier run up
(``Backend.recover``) instead of launching twice. No secrets are ever written.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runhub.errors import LedgerError, SpecError
from runhub.ledger import claims
from runhub.ledger.claims import Claim
from runhub.ledger.records import ChainMark, ChainRecord, Intent, Launch, SpecRecord
from runhub.ledger.store import Query, Result, Store, open_store

if TYPE_CHECKING:
    import sqlite3

    from runhub.state import RunStatus


def default_location() -> Path:
    """``<runhub home>/ledger.sqlite``."""
    from runhub.config import runhub_home

    return runhub_home() / "ledger.sqlite"


class Ledger:
    """The launch ledger at ``location``.

    ``location`` is a file path (SQLite) or a URL of a registered store
    (``postgresql://user@host/db``); by default ``RUNHUB_LEDGER``, else the
    ``ledger`` key of ``profile``, else ``<runhub home>/ledger.sqlite``. Use as a
    context manager, or call :meth:`close` when done, so the record is complete in
    its own file (it is also closed at interpreter exit).
    """

    def __init__(
        self,
        location: str | Path | None = None,
        *,
        store: Store | None = None,
        profile: str | None = None,
    ) -> None:
        if store is None and location is None:
            from runhub.ledger.location import configured

            location = configured(profile).location
        self.store: Store = store or open_store(location or default_location())

    def __repr__(self) -> str:
        return f"<Ledger {self.location}>"

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def location(self) -> str:
        """Where the ledger is (a path, or a URL without its password)."""
        return self.store.location

    @property
    def path(self) -> Path | None:
        """The ledger's file, for a SQLite ledger."""
        path = getattr(self.store, "path", None)
        return path if isinstance(path, Path) else None

    @property
    def schema_version(self) -> int:
        """The schema version of the stored data."""
        return self.store.schema_version()

    def close(self) -> None:
        """Make every write durable in the ledger's own file(s), and release it."""
        self.store.close()

    def backup(self, dest: str | Path) -> int:
        """Copy a consistent snapshot to the new file ``dest``; the launches copied."""
        backup = getattr(self.store, "backup", None)
        if backup is None:
            raise LedgerError(
                f"ledger {self.location}: this store is backed up with its server's own tools"
            )
        count: int = backup(Path(dest))
        return count

    def _db(self) -> sqlite3.Connection:
        """The SQLite connection (for tests and debugging)."""
        connection: sqlite3.Connection = getattr(self.store, "connection")  # noqa: B009
        return connection

    # -- intents ---------------------------------------------------------------------

    def intent(
        self,
        backend: str,
        spec_hash: str,
        *,
        batch: str | None = None,
        row_key: str | None = None,
        name: str | None = None,
        key: str | None = None,
    ) -> Launch:
        """Record that a launch is about to happen, and return its row.

        For a (batch, row) or a ``key`` seen before, the existing row comes back
        with its key (and its ref, if launched): re-running a batch launches
        nothing twice.
        """
        return self.intents([Intent(backend, spec_hash, batch, row_key, name, key)])[0]

    def intents(self, wanted: Sequence[Intent]) -> list[Launch]:
        """:meth:`intent` for many launches, in one transaction (a batch's rows).

        A caller's own ``key`` names one launch: reusing it for a different spec
        is a SpecError, as ICA refuses a key reused with another body (422).
        """
        found = self.store.intents(wanted, time.time())
        for item, row in zip(wanted, found, strict=True):
            if item.key is not None and (row.spec_hash, row.backend) != (
                item.spec_hash,
                item.backend,
            ):
                raise SpecError(
                    f"launch key {item.key!r} was already used for another launch "
                    f"({row.ref or 'not launched'}); a key names one launch: use a new key",
                    field="key",
                )
        return found

    # -- claims ----------------------------------------------------------------------

    def claim(self, record: Launch, owner: str, lease: float) -> Claim:
        """Try to take ``record``'s row for ``owner`` for ``lease`` seconds.

        A row held by a live launch elsewhere is left alone (:attr:`Claim.until`
        says until when, at most); one whose holder's lease ended, or whose holder
        is a process of this host that has exited, is taken over.
        """
        row = self.store.get(record.key)
        for _ in range(8):  # lost races: look again
            now = time.time()
            if row is None:  # deleted meanwhile (a launch that sent nothing): record it again
                (row,) = self.intents([_intent_of(record)])
                continue
            if row.ref is not None:
                return Claim(row)
            holder, replacing, dead, settle = row.claim_owner, None, False, None
            if holder is not None and holder != owner:
                live = row.claim_until is not None and row.claim_until >= now
                if live and claims.alive(holder):
                    return Claim(row, until=row.claim_until)
                replacing, dead = holder, live
                # A holder whose lease ran out may have sent until its end.
                settle = None if dead else row.claim_until
            got = self.store.claim(
                record.key,
                owner,
                now + lease,
                now,
                replacing=replacing,
                dead=dead,
                settle_from=settle,
            )
            if got is not None:
                return Claim(got, mine=True, took_over=replacing)
            row = self.store.get(record.key)
        assert row is not None
        return Claim(row, until=time.time() + claims.CLAIM_POLL)

    def sent(self, key: str, owner: str, lease: float) -> bool:
        """Record that ``owner`` is about to send a request that may create the run
        (and renew its lease); False if it no longer holds the row: do not send."""
        now = time.time()
        return self.store.sent(key, owner, now + lease, now)

    def renew(self, key: str, owner: str, lease: float) -> bool:
        """Extend ``owner``'s lease; False if it no longer holds the row."""
        return self.store.renew(key, owner, time.time() + lease)

    def release(self, key: str, owner: str) -> None:
        """End ``owner``'s claim on the row, if it still holds it."""
        self.store.release(key, owner)

    # -- attempts and results --------------------------------------------------------

    def attempt(self, key: str) -> Launch:
        """Mark that a launch request is about to be sent, without a claim."""
        self.store.attempt([key], time.time())
        row = self.store.get(key)
        if row is None:
            raise KeyError(key)
        return row

    def adopt(self, keys: Sequence[str]) -> None:
        """Mark rows as possibly launched already, so their launch looks for the
        run first (``Backend.recover``) and adopts it."""
        self.store.attempt(keys, 0.0)

    def launched(self, key: str, status: RunStatus) -> None:
        """Record the platform's answer to a launch."""
        result = Result(
            str(status.ref), status.ref.batch, status.state.value, status.native, status.name
        )
        self.store.launched(key, result, time.time())

    def failed(self, key: str, error: str) -> None:
        """Record that a launch failed for sure (nothing was created)."""
        self.store.failed(key, error, time.time())

    def grouped(self, keys: Sequence[str], note: str) -> None:
        """Record the request rows are sent in together (before it is sent), or what
        the platform answered to it: a re-run sends the same request again."""
        if keys:
            self.store.grouped(keys, note, time.time())

    def discard(self, key: str) -> None:
        """Forget a launch that never sent anything (no ERROR row for it)."""
        self.store.discard(key)

    def observe(self, statuses: Sequence[RunStatus]) -> None:
        """Record the latest known state of runs (by ref)."""
        if statuses:
            seen = [(str(s.ref), s.state.value, s.native) for s in statuses]
            self.store.observe(seen, time.time())

    def prune(self, older_than: float) -> int:
        """Delete finished (and refused) launches last updated before
        ``older_than`` (epoch s); batch rows that had a run keep a tombstone."""
        return self.store.prune(older_than, time.time())

    # -- reads -----------------------------------------------------------------------

    def get(self, key: str) -> Launch | None:
        """The launch with this key."""
        return self.store.get(key)

    def by_ref(self, ref: str) -> Launch | None:
        """The launch that produced run ``ref``."""
        return self.store.by_ref(ref)

    def claimed(self, backend: str) -> frozenset[str]:
        """Run ids (the part after ``backend:``) already owned by a launch."""
        return self.store.owned_runs(backend)

    def known_keys(self, batch: str) -> frozenset[str]:
        """Every launch key this ledger may have sent for ``batch``."""
        return self.store.known_keys(batch)

    def runs(
        self,
        *,
        backend: str | None = None,
        state: str | None = None,
        batch: str | None = None,
        since: float | None = None,
        limit: int | None = 100,
    ) -> list[Launch]:
        """Launches, newest first, filtered (``state="ERROR"``: refused launches)."""
        return self.store.runs(Query(backend, state, batch, since, limit))

    def batch(self, batch: str) -> list[Launch]:
        """Every launch of one batch, in row order of creation."""
        return self.store.batch(batch)

    # -- specs and attempts (show, relaunch, batch --retry-failed) -----------------------

    def keep_specs(self, items: Sequence[tuple[str, Any, str | None]]) -> None:
        """Record (launch key, spec data, previous launch key) for new launches;
        a launch that already has its spec keeps the first one."""
        self.store.keep_specs(items)

    def spec_record(self, key: str) -> SpecRecord | None:
        """The spec launch ``key`` was made with, and the launch it repeats."""
        return self.store.spec_record(key)

    def relaunches(self, key: str) -> list[Launch]:
        """The launches made to repeat launch ``key``, oldest first."""
        return self.store.relaunches(key)

    def attempts(self, batch: str, row_key: str) -> list[Launch]:
        """Every attempt of one batch row (any attempt's row key), first attempt first."""
        return self.store.attempts(batch, row_key)

    # -- chains (runhub.chain) -------------------------------------------------------

    def keep_chain(self, chain: str, definition: Any, rows: Sequence[tuple[str, Any]]) -> None:
        """Record a chain's definition and its rows (row key, cells) once."""
        self.store.keep_chain(chain, definition, rows, time.time())

    def chain(self, chain: str) -> ChainRecord | None:
        """The chain with this id (None: no such chain)."""
        return self.store.chain(chain)

    def mark_chain(self, chain: str, marks: Sequence[ChainMark]) -> None:
        """Record marks of a chain's steps and rows; the first mark of each stays."""
        if marks:
            self.store.mark_chain(chain, marks, time.time())


def _intent_of(record: Launch) -> Intent:
    return Intent(
        record.backend, record.spec_hash, record.batch, record.row_key, record.name, record.key
    )


__all__ = ["Ledger", "default_location"]
