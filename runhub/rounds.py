"""How ``AsyncClient.launch_many`` runs its rows: slow start, lookups first, rows
held elsewhere waited out, and a ledger that fails stops everything.

- Slow start: a few launches at first, one more for each that ends (doubling every
  round trip), so a rate-limited platform is not hit by a full burst of 429s
  before its limit is known.
- Rows an interrupted earlier try may have launched are looked up one at a time
  first, so two lookups in this process never adopt the same platform run.
- A row that must wait (:class:`~runhub.tracking.Settling`: a run the platform may
  still be creating; :class:`~runhub.tracking.Claimed`: a live launch elsewhere
  holds it) gives its place to the next row and is tried again when its wait is
  over, so concurrent batches share the work instead of queueing behind each other.
- A :class:`~runhub.errors.LedgerError` (disk full, say) stops every launch at
  once: nothing more is sent that could not be recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runhub.errors import LedgerError, RunhubError
from runhub.tracking import Claimed, InGroup, Settling

if TYPE_CHECKING:
    from runhub.backend import Backend, Operation
    from runhub.state import RunStatus

#: Launches in flight at first (then one more per launch ended).
SLOW_START = 16

Runner = Callable[["Backend", Callable[[], "Operation[RunStatus]"]], Awaitable["RunStatus"]]


@dataclass(frozen=True)
class Row:
    """One launch to run: its backend, how to build its operation, and whether an
    earlier try may have launched it (then it is looked up alone)."""

    backend: Backend
    make: Callable[[], Operation[RunStatus]]
    look_up_first: bool = False


async def launch_rows(
    run: Runner, rows: Sequence[Row], concurrency: int
) -> list[RunStatus | RunhubError]:
    """Each row's status or error, in order."""
    limit = max(1, concurrency)
    opened = min(limit, SLOW_START)
    gate = asyncio.Semaphore(opened)
    results: list[RunStatus | RunhubError | None] = [None] * len(rows)
    stopped: list[LedgerError] = []

    async def one(index: int) -> Settling | None:
        """Run one row; the wait it asked for, if it must be tried again."""
        nonlocal opened
        async with gate:
            if stopped:  # the ledger failed: start nothing more
                raise stopped[0]
            try:
                results[index] = await run(rows[index].backend, rows[index].make)
            except Settling as wait:  # Claimed too
                return wait
            except InGroup as signal:  # the caller finishes it with its group
                results[index] = signal  # type: ignore[call-overload]
            except LedgerError as error:
                stopped.append(error)
                raise
            except RunhubError as error:
                results[index] = error
            finally:
                if opened < limit:
                    opened += 1
                    gate.release()
        return None

    due: dict[int, float] = dict.fromkeys(range(len(rows)), 0.0)
    alone = {i for i, row in enumerate(rows) if row.look_up_first}
    while due:
        now = time.monotonic()
        ready = sorted(i for i, at in due.items() if at <= now)
        if not ready:
            await asyncio.sleep(min(due.values()) - now)
            continue
        waits: dict[int, Settling] = {}
        for index in (i for i in ready if i in alone):
            outcome = await one(index)
            if outcome is not None:
                waits[index] = outcome
        together = [i for i in ready if i not in alone]
        outcomes = await _all(one, together)
        waits.update({i: w for i, w in zip(together, outcomes, strict=True) if w is not None})
        for index in ready:
            del due[index]
        now = time.monotonic()
        for index, wait in waits.items():
            due[index] = now + wait.wait
            # A row held elsewhere may come back launched or taken over: with the others.
            if isinstance(wait, Claimed):
                alone.discard(index)
            else:
                alone.add(index)
    return [r for r in results if r is not None]


async def _all(
    one: Callable[[int], Awaitable[Settling | None]], indexes: Sequence[int]
) -> list[Settling | None]:
    """``one`` for every index at once; a LedgerError cancels the others at once,
    anything else unexpected is raised after every launch has ended."""
    tasks = [asyncio.ensure_future(one(i)) for i in indexes]
    if not tasks:
        return []
    pending: set[asyncio.Future[Settling | None]] = set(tasks)
    while pending:
        done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        failed = [t for t in done if not t.cancelled() and isinstance(t.exception(), LedgerError)]
        if failed:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            raise failed[0].exception()  # type: ignore[misc]
    for task in tasks:
        error = task.exception()
        if error is not None:
            raise error
    return [t.result() for t in tasks]
