"""Group launches: many runs created by one platform request, each exactly once.

A backend with ``capabilities.group_launch`` can create several runs with one
request (ICA's ``analysisCreationBatch``). ``AsyncClient.launch_many`` hands such
rows to :func:`launch_groups`, which keeps the ledger's rules around the backend's
:meth:`~runhub.backend.Backend.launch_group` step:

1. every row is *claimed* first (:meth:`Ledger.claim`); a row another live launch
   holds, or that has its run, goes the per-run way (which waits or re-attaches);
2. before the backend sends a request that may create runs, it tells the ledger
   which rows go in it (:meth:`GroupNotes.sending`): the rows' ``launch_group``
   note is written and each row is marked sent, under its claim. What the
   platform answers (its id for the request) is noted too (:meth:`GroupNotes.answered`);
3. the step answers each row with its run, its own error, :data:`PER_RUN` (launch it
   alone after all), or :class:`Later` (not created yet: call the step again). The
   step is called again until every row has its answer; between calls the rows'
   notes come back from the ledger, so a step after a crash starts exactly where an
   earlier process stopped: the backend sends the same request again (the platform
   replays its answer) or reads what it answered.

A row the step fails for as a whole is left attempted if a request may have been
sent for it (a re-run resolves it), and forgotten if nothing was sent. A row sent in
a group is never sent on its own: the per-run path hands such a row back
(:class:`~runhub.tracking.InGroup`, when another launch grouped it meanwhile) and it
is finished here; only an answer of :data:`PER_RUN` clears its note.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Final, Protocol

from runhub.errors import AmbiguousLaunch, LedgerError, RunhubError
from runhub.ledger.claims import CLAIM_POLL, new_owner
from runhub.state import RunStatus
from runhub.tracking import Claimed, Settling

if TYPE_CHECKING:
    from runhub.backend import Backend, Operation
    from runhub.ledger import Launch, Ledger
    from runhub.spec import RunSpec

#: Seconds a group may go on answering :class:`Later` before its rows are given up
#: as "still being created" (a re-run picks them up where they are).
PATIENCE = 3600.0


@dataclass(frozen=True)
class GroupRow:
    """One row handed to :meth:`Backend.launch_group`.

    ``note`` is what the backend noted for the row before (None: never sent in a
    group); ``attempted_at`` when a request that may have created its run was first
    about to be sent (epoch seconds), if ever.
    """

    key: str
    spec: RunSpec
    note: str | None = None
    attempted_at: float | None = None


@dataclass(frozen=True)
class Later:
    """The row's run is not known yet: call the step again after ``wait`` seconds."""

    wait: float


class _PerRun:
    def __repr__(self) -> str:
        return "PER_RUN"


#: The row is to be launched on its own (``Backend.launch``), after all.
PER_RUN: Final = _PerRun()

#: What a group step answers for one row.
GroupAnswer = RunStatus | RunhubError | Later | _PerRun


class GroupNotes(Protocol):
    """How a group step tells the ledger what it sends (given by :func:`launch_groups`)."""

    def sending(self, keys: Sequence[str], note: str) -> None:
        """Call right before a request that may create the runs of ``keys``:
        records ``note`` for them and marks them sent. Raises (and the request must
        not go) if a row is no longer this launch's."""

    def answered(self, keys: Sequence[str], note: str) -> None:
        """Record what the platform answered (e.g. its id for the request)."""


Runner = Callable[["Backend", Callable[[], "Operation[Any]"]], Awaitable[Any]]
Item = tuple[int, "Backend", "RunSpec", "Launch"]


async def launch_groups(
    run: Runner, ledger: Ledger, items: Sequence[Item], batch: str, lease: float
) -> dict[int, RunStatus | RunhubError]:
    """Launch the rows that can go in groups; each one's status or error, by index.

    Rows left out of the answer are for the per-run path: their backend groups
    nothing, their group would be one new row, or the backend handed them back.
    """
    groups: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        backend, spec, record = item[1], item[2], item[3]
        if not backend.capabilities.group_launch:
            continue
        if record.attempted_at is not None and not record.launch_group:
            continue  # sent alone before (or adopted): looked up alone (Backend.recover)
        label = backend.group_key(spec)
        if label is not None:
            groups.setdefault((backend.name, label), []).append(item)
    # a group of one row never sent in a group is an ordinary launch
    chosen = [g for g in groups.values() if len(g) > 1 or any(i[3].launch_group for i in g)]
    found = await asyncio.gather(*(_Group(run, ledger, g, batch, lease).launch() for g in chosen))
    results: dict[int, RunStatus | RunhubError] = {}
    for part in found:
        results.update(part)
    return results


class _Notes:
    def __init__(self, ledger: Ledger, owner: str, lease: float) -> None:
        self.ledger = ledger
        self.owner = owner
        self.lease = lease

    def sending(self, keys: Sequence[str], note: str) -> None:
        self.ledger.grouped(keys, note)
        lost = [key for key in keys if not self.ledger.sent(key, self.owner, self.lease)]
        if lost:
            raise Claimed(CLAIM_POLL)

    def answered(self, keys: Sequence[str], note: str) -> None:
        self.ledger.grouped(keys, note)


class _Group:
    """The rows of one backend and group key, driven until each has its answer."""

    def __init__(
        self, run: Runner, ledger: Ledger, items: list[Item], batch: str, lease: float
    ) -> None:
        self.run = run
        self.ledger = ledger
        self.backend = items[0][1]
        self.batch = batch
        self.lease = lease
        self.owner = new_owner()
        self.notes = _Notes(ledger, self.owner, lease)
        self.items = items
        #: launch key -> (index, spec, record), rows this group holds
        self.held: dict[str, tuple[int, RunSpec, Launch]] = {}
        self.results: dict[int, RunStatus | RunhubError] = {}
        self._renewed = time.monotonic()

    async def launch(self) -> dict[int, RunStatus | RunhubError]:
        for index, _, spec, record in self.items:
            claim = self.ledger.claim(record, self.owner, self.lease)
            if claim.mine:
                self.held[record.key] = (index, spec, claim.record)
        started = time.monotonic()
        try:
            while self.held:
                wait = await self._step()
                if not self.held:
                    break
                if time.monotonic() - started > PATIENCE:
                    self._give_up()
                    break
                await asyncio.sleep(wait)
                self._refresh()
        finally:
            for key in self.held:
                with contextlib.suppress(LedgerError):
                    self.ledger.release(key, self.owner)
        return self.results

    async def _step(self) -> float:
        """One call of the backend's step; the wait before the next."""
        rows = [
            GroupRow(key, spec, rec.launch_group, rec.attempted_at)
            for key, (_, spec, rec) in sorted(self.held.items())
        ]
        make = partial(self.backend.launch_group, rows, batch=self.batch, notes=self.notes)
        try:
            answers: dict[str, GroupAnswer] = await self.run(self.backend, make)
        except Settling as settling:  # a row's claim was lost: that row goes per run
            self._refresh()
            return settling.wait
        except LedgerError:
            raise
        except RunhubError as error:
            self._failed_whole(error)
            return 0.0
        wait: float | None = None
        for key in list(self.held):
            answer = answers.get(key, Later(1.0))
            index = self.held[key][0]
            if isinstance(answer, RunStatus):
                self.ledger.launched(key, answer)
                self.results[index] = answer
            elif isinstance(answer, RunhubError):
                self._row_failed(key, answer)
            elif isinstance(answer, Later):
                wait = answer.wait if wait is None else min(wait, answer.wait)
                continue
            else:  # PER_RUN: the per-run path claims it again, and may send it alone
                self.ledger.grouped([key], "")
                self.ledger.release(key, self.owner)
            del self.held[key]
        return max(0.0, wait or 0.0)

    def _row_failed(self, key: str, error: RunhubError) -> None:
        index = self.held[key][0]
        fresh = self.ledger.get(key)
        if fresh is not None and fresh.attempted_at is None and fresh.launch_group is None:
            self.ledger.discard(key)  # nothing was sent for it: no row
        else:
            self.ledger.failed(key, str(error))
        self.results[index] = error

    def _failed_whole(self, error: RunhubError) -> None:
        """The step failed for every row: rows a request may have been sent for stay
        attempted (a re-run finds out); rows nothing was sent for leave no row."""
        for key, (index, _, _) in list(self.held.items()):
            fresh = self.ledger.get(key)
            if fresh is not None and fresh.attempted_at is None and fresh.launch_group is None:
                self.ledger.discard(key)
            self.results[index] = error
        # the claims are released by launch(): a re-run sends the same request again
        for key in list(self.held):
            with contextlib.suppress(LedgerError):
                self.ledger.release(key, self.owner)
        self.held.clear()

    def _give_up(self) -> None:
        for index, _, _ in list(self.held.values()):
            self.results[index] = AmbiguousLaunch(
                f"{self.backend.name} has not created this run after {PATIENCE:g} s; "
                "it may still: re-run the same command to pick it up"
            )

    def _refresh(self) -> None:
        """Re-read the rows (their notes); rows no longer held here leave the group,
        and leases are renewed once a quarter of them has gone."""
        renew = time.monotonic() - self._renewed >= self.lease / 4
        for key in list(self.held):
            index, spec, _ = self.held[key]
            fresh = self.ledger.get(key)
            mine = fresh is not None and fresh.claim_owner == self.owner and fresh.ref is None
            if mine and renew:
                mine = self.ledger.renew(key, self.owner, self.lease)
            if not mine or fresh is None:
                del self.held[key]  # the per-run path re-attaches or waits for it
                continue
            self.held[key] = (index, spec, fresh)
        if renew:
            self._renewed = time.monotonic()


__all__ = ["PER_RUN", "GroupAnswer", "GroupNotes", "GroupRow", "Later", "launch_groups"]
