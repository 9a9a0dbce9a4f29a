"""Asking many runs at once without letting one bad run hide the others.

A ``--batch`` command asks every run of a batch; one run the platform no longer
knows (a Code Ocean run deleted by a cancel) or cannot answer for must become one
row of the table, not the command's only line. :func:`statuses` and
:func:`watch` ask all runs together first (one request per page where the
backend can), and only when that fails ask one run at a time, keeping each
failure as a :class:`Problem`. A run the ledger recorded CANCELLED through runhub
that the platform no longer has is reported CANCELLED, as it was.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    from runhub.aio import AsyncClient
    from runhub.backend import RunRef
    from runhub.client import Client
    from runhub.clientbase import PollSchedule
    from runhub.errors import RunhubError
    from runhub.ledger import Ledger
    from runhub.state import RunStatus

#: Polls in a row a run may fail with an error a retry could fix before it is given up.
PATIENCE = 3


@dataclass(frozen=True)
class Problem:
    """A run that could not be asked (or acted on), and why."""

    ref: RunRef
    error: RunhubError

    @property
    def is_terminal(self) -> bool:
        """Problems end a run's follow: nothing more will be learned about it."""
        return True

    @property
    def ok(self) -> bool:
        return False

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of a run that could not be asked (``state`` is ERROR)."""
        return {"ref": str(self.ref), "state": "ERROR", "error": str(self.error)}


#: What asking one run gave: its status, or the problem that stopped the ask.
Outcome: TypeAlias = "RunStatus | Problem"


def exit_code(outcomes: Sequence[Outcome]) -> int:
    """0 if every run succeeded; else the worst error's code; else 1 (a run failed)."""
    problems = [o for o in outcomes if isinstance(o, Problem)]
    if problems:
        return max(p.error.exit_code for p in problems)
    return 0 if all(o.ok for o in outcomes) else 1


def settle(ledger: Ledger | None, ref: RunRef, error: RunhubError) -> Outcome:
    """A failed ask as the row to show: the ledger's CANCELLED for a run runhub
    cancelled and the platform then deleted; otherwise the problem itself."""
    from runhub.errors import NotFound

    if ledger is not None and isinstance(error, NotFound):
        record = ledger.by_ref(str(ref))
        if record is not None and record.state == "CANCELLED":
            from runhub.state import RunState, RunStatus

            return RunStatus(
                ref=ref,
                state=RunState.CANCELLED,
                native=record.native,
                message="cancelled through runhub; the platform no longer lists it",
                name=record.name,
            )
    return Problem(ref, error)


def statuses(client: Client, refs: Sequence[RunRef]) -> list[Outcome]:
    """Every run's status, or its problem, in the order given."""
    from runhub.errors import RunhubError

    try:
        return list(client.statuses(refs))
    except RunhubError:
        pass
    found: list[Outcome] = []
    for ref in refs:
        try:
            found.append(client.status(ref))
        except RunhubError as error:
            found.append(settle(client.ledger, ref, error))
    return found


async def astatuses(client: AsyncClient, refs: Sequence[RunRef]) -> list[Outcome]:
    """:func:`statuses` for the asyncio client (one run at a time only on failure)."""
    from runhub.errors import RunhubError

    try:
        return list(await client.statuses(refs))
    except RunhubError:
        pass

    async def one(ref: RunRef) -> Outcome:
        try:
            return await client.status(ref)
        except RunhubError as error:
            return settle(client.ledger, ref, error)

    return list(await asyncio.gather(*(one(r) for r in refs)))


async def watch(
    client: AsyncClient, refs: Sequence[RunRef], poll: PollSchedule
) -> AsyncIterator[Outcome]:
    """Like ``AsyncClient.watch``, yielding problems as well as statuses.

    A run whose ask fails with an error no retry fixes (not found, refused) is
    yielded as a Problem and no longer asked; a network or platform error is
    given :data:`PATIENCE` polls before it is.
    """
    from runhub.errors import PlatformError, TransportError

    pending = list(dict.fromkeys(refs))
    seen: dict[str, tuple[str, str | None]] = {}
    strikes: dict[str, int] = {}
    delays = iter(poll.delays())
    while pending:
        for outcome in await astatuses(client, pending):
            key = str(outcome.ref)
            if isinstance(outcome, Problem):
                passing = isinstance(outcome.error, TransportError) or (
                    type(outcome.error) is PlatformError and (outcome.error.status or 500) >= 500
                )
                strikes[key] = strikes.get(key, 0) + 1
                if passing and strikes[key] < PATIENCE:
                    continue
                yield outcome
                pending = [r for r in pending if str(r) != key]
                continue
            strikes.pop(key, None)
            mark = (outcome.state.value, outcome.native)
            if seen.get(key) != mark:
                seen[key] = mark
                yield outcome
            if outcome.is_terminal:
                pending = [r for r in pending if str(r) != key]
        if pending:
            await asyncio.sleep(next(delays))


__all__ = ["PATIENCE", "Problem", "astatuses", "exit_code", "settle", "statuses", "watch"]
