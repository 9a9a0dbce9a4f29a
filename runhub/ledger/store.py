"""The one interface every ledger store implements, and how a store is chosen.

:class:`~runhub.ledger.Ledger` (what clients and commands use) keeps the policy:
keys, claim owners and leases, liveness, the order of writes. A :class:`Store`
keeps the rows, and answers each operation atomically: every method is one
transaction, and the conditional ones (``claim``, ``sent``, ``renew``) decide in
that transaction whether they apply. That is all exactly-once needs from storage,
so SQLite (:mod:`runhub.ledger.sqlite`) and a database server can both provide it.

Rules for a store:

- Opening applies the store's migrations under a lock (forward only) and refuses a
  schema newer than it knows with :class:`~runhub.errors.LedgerError`.
- Every failure to read or write is a :class:`~runhub.errors.LedgerError` naming
  :attr:`Store.location` and what to do (disk full, unreadable, locked ...); a
  store that knows it has lost rows it once held raises
  :class:`~runhub.errors.LedgerLost` from :meth:`Store.intents`.
- No secret is ever written; :attr:`Store.location` never shows a password.

New stores register a URL scheme in :data:`SCHEMES`; a plain path is SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runhub.ledger.records import ChainMark, ChainRecord, Intent, Launch, SpecRecord
    from runhub.ledger.transfer import Snapshot


@dataclass(frozen=True)
class Result:
    """The platform's answer to a launch, as the ledger keeps it."""

    ref: str
    ref_group: str | None
    state: str
    native: str | None
    name: str | None


@dataclass(frozen=True)
class Query:
    """A selection of launches for ``runhub runs``: newest first, ``limit`` rows
    (None: all). ``state`` is a RunState value, or ``"ERROR"`` for launches the
    platform refused."""

    backend: str | None = None
    state: str | None = None
    batch: str | None = None
    since: float | None = None
    limit: int | None = 100


class Store(Protocol):
    """Where launches are kept. Times are epoch seconds, passed in by the caller."""

    #: Shown in messages: a path, or a URL without its password.
    location: str
    #: What kind of store this is ("sqlite", "postgresql"), for ``runhub ledger info``.
    kind: str

    # -- intents: rows written before any request ------------------------------------

    def intents(self, wanted: Sequence[Intent], now: float) -> list[Launch]:
        """One row per intent, in one transaction. An intent with ``key`` gets the
        row with that key (one for another spec that created no run, refused or
        never sent, is replaced); a batch row gets the row of its (batch, row key), or
        the pruned row's key and ref back (see :meth:`prune`); otherwise a new
        row, keyed ``key`` or :func:`~runhub.ledger.records.launch_key` for a
        batch row or a random key."""
        ...

    # -- claims: who may send a row ----------------------------------------------------

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
        """Give an unlaunched row to ``owner`` with a lease to ``until``, if it is
        free, already ``owner``'s, or held by ``replacing`` whose lease ended before
        ``now`` (or at once when ``dead``). Taking an attempted row over raises its
        ``sent_at`` to ``settle_from``. The row after, or None if not given."""
        ...

    def sent(self, key: str, owner: str, until: float, now: float) -> bool:
        """Record that ``owner`` is about to send a request that may create the
        run (``attempts`` + 1, ``attempted_at`` once, ``sent_at``), renewing its
        lease; False (nothing written) if ``owner`` no longer holds the row."""
        ...

    def renew(self, key: str, owner: str, until: float) -> bool:
        """Extend ``owner``'s lease; False if it no longer holds the row."""
        ...

    def release(self, key: str, owner: str) -> None:
        """End ``owner``'s claim, if it still holds it."""
        ...

    # -- attempts and results --------------------------------------------------------

    def attempt(self, keys: Sequence[str], now: float) -> None:
        """Mark rows attempted without a claim (an earlier run may exist: look for
        it before launching). Used to adopt runs a lost ledger forgot."""
        ...

    def launched(self, key: str, result: Result, now: float) -> None:
        """Record the run a launch created; ends any claim on the row."""
        ...

    def failed(self, key: str, error: str, now: float) -> None:
        """Record that the platform refused the launch (no run); ends any claim."""
        ...

    def grouped(self, keys: Sequence[str], note: str, now: float) -> None:
        """Record ``note`` as the ``launch_group`` of rows sent in one request with
        others (:mod:`runhub.grouplaunch`); written before that request is sent."""
        ...

    def discard(self, key: str) -> None:
        """Delete a row that was never attempted nor launched (a launch that
        failed before sending anything leaves no row)."""
        ...

    # -- status cache ----------------------------------------------------------------

    def observe(self, seen: Sequence[tuple[str, str, str | None]], now: float) -> None:
        """Record the latest ``(ref, state, native)`` of runs, in one transaction.

        A run already recorded in a terminal state (:data:`TERMINAL`) keeps it: the
        check is part of the update, so a late poll or event in another process
        never moves a finished run back."""
        ...

    # -- queries ---------------------------------------------------------------------

    def get(self, key: str) -> Launch | None:
        """The row with this launch key."""
        ...

    def by_ref(self, ref: str) -> Launch | None:
        """The row that launched run ``ref``."""
        ...

    def runs(self, query: Query) -> list[Launch]:
        """Rows matching ``query``, newest first."""
        ...

    def batch(self, batch: str) -> list[Launch]:
        """Every row of one batch, in the order they were first recorded."""
        ...

    def owned_runs(self, backend: str) -> frozenset[str]:
        """Run ids (the part after ``backend:``) some row of ``backend`` owns."""
        ...

    def known_keys(self, batch: str) -> frozenset[str]:
        """Keys of this batch's rows that were attempted or launched, pruned
        rows included: every key this ledger ever sent for the batch."""
        ...

    # -- specs and attempts (show, relaunch, batch --retry-failed) -----------------------

    def keep_specs(self, items: Sequence[tuple[str, Any, str | None]]) -> None:
        """Record (launch key, spec data, previous launch key) for new launches; a
        launch that has its spec keeps the first one. Specs of launches neither in
        the ledger nor pruned to a tombstone are dropped."""
        ...

    def spec_record(self, key: str) -> SpecRecord | None:
        """The spec launch ``key`` was made with, and the launch it repeats."""
        ...

    def relaunches(self, key: str) -> list[Launch]:
        """The launches made to repeat launch ``key``, oldest first."""
        ...

    def attempts(self, batch: str, row_key: str) -> list[Launch]:
        """Every attempt of one batch row (rows ``<row>`` and ``<row>@<n>``), first
        attempt first."""
        ...

    # -- chains (runhub.chain) ------------------------------------------------------

    def keep_chain(
        self, chain: str, definition: Any, rows: Sequence[tuple[str, Any]], now: float
    ) -> None:
        """Record a chain's definition and its rows (row key, cells), in order, in
        one transaction; a chain recorded before keeps what it had (an id names one
        chain)."""
        ...

    def chain(self, chain: str) -> ChainRecord | None:
        """The chain with this id, its rows and its marks."""
        ...

    def mark_chain(self, chain: str, marks: Sequence[ChainMark], now: float) -> None:
        """Record marks of a chain's steps and rows; a (row, step) marked before
        keeps its first mark, so processes advancing one chain agree."""
        ...

    # -- maintenance -----------------------------------------------------------------

    def prune(self, older_than: float, now: float) -> int:
        """Delete finished and refused launches last updated before ``older_than``;
        a batch row that had a run keeps a tombstone (batch, row key, key, ref),
        so the batch never launches it again. Returns the rows deleted."""
        ...

    def schema_version(self) -> int:
        """The schema version of the stored data."""
        ...

    def close(self) -> None:
        """Make every write durable in the store's own files and release it."""
        ...

    # -- whole ledger (runhub ledger info / copy; runhub.ledger.transfer) ----------------

    def counts(self) -> dict[str, int]:
        """Rows per table: ``launches``, ``launched``, ``claimed``, ``pruned``, ``specs``."""
        ...

    def export(self) -> Snapshot:
        """Every row (launches oldest first, tombstones, specs), in one transaction."""
        ...

    def merge(self, snapshot: Snapshot) -> dict[str, int]:
        """Add the rows of ``snapshot`` this store lacks, in one transaction: a launch
        whose key or (batch, row key) is here already, a tombstone whose (batch, row
        key) is, a spec whose key is, is skipped. The rows added per table
        (``launches``, ``pruned``, ``specs``)."""
        ...


def _postgres(location: str) -> Store:
    # Imported on use: psycopg is an optional extra (runhub[postgres]).
    from runhub.ledger.postgres import PostgresStore

    return PostgresStore(location)


#: URL scheme -> factory(location) for stores other than a SQLite path.
SCHEMES: dict[str, Callable[[str], Store]] = {"postgresql": _postgres, "postgres": _postgres}


def open_store(location: str | Path) -> Store:
    """The store at ``location``: a registered URL scheme, else a SQLite file path."""
    text = str(location)
    scheme, sep, _ = text.partition("://")
    if sep and scheme in SCHEMES:
        return SCHEMES[scheme](text)
    if sep and scheme not in ("file",):
        from runhub.errors import ConfigError

        known = ", ".join(sorted(SCHEMES)) or "none yet"
        raise ConfigError(
            f"ledger {scheme}://...: no ledger store for {scheme!r} (stores by URL: {known}); "
            "give a file path for a SQLite ledger"
        )
    from runhub.ledger.sqlite import SqliteStore

    return SqliteStore(Path(text.removeprefix("file://")))
