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


def about_one_run(error: RunhubError) -> bool:
    """True if the error may concern one run only (a run the platform does not have,
    a request it refused for that run), so asking the runs one by one tells which.
    Network errors, refused credentials, rate limits and server errors concern the
    platform: asking again run by run would only multiply the retries."""
    from runhub.errors import AuthError, NotFound, PlatformError, RateLimited

    if isinstance(error, NotFound):
        return True
    if isinstance(error, AuthError | RateLimited) or not isinstance(error, PlatformError):
        return False
    return (error.status or 500) < 500


def _groups(refs: Sequence[RunRef]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {}
    for index, ref in enumerate(refs):
        found.setdefault(ref.backend, []).append(index)
    return found


def statuses(client: Client, refs: Sequence[RunRef]) -> list[Outcome]:
    """Every run's status, or its problem, in the order given (per backend: all
    together, then one by one only when the failure may be one run's)."""
    from runhub.errors import RunhubError

    found: list[Outcome | None] = [None] * len(refs)
    for indexes in _groups(refs).values():
        asked = [refs[i] for i in indexes]
        try:
            for index, status in zip(indexes, client.statuses(asked), strict=True):
                found[index] = status
            continue
        except RunhubError as error:
            if len(asked) == 1 or not about_one_run(error):
                for index in indexes:
                    found[index] = settle(client.ledger, refs[index], error)
                continue
        for index in indexes:
            try:
                found[index] = client.status(refs[index])
            except RunhubError as error:
                found[index] = settle(client.ledger, refs[index], error)
    return [f for f in found if f is not None]


async def astatuses(client: AsyncClient, refs: Sequence[RunRef]) -> list[Outcome]:
    """:func:`statuses` for the asyncio client."""
    from runhub.errors import RunhubError

    found: list[Outcome | None] = [None] * len(refs)

    async def one(index: int) -> None:
        try:
            found[index] = await client.status(refs[index])
        except RunhubError as error:
            found[index] = settle(client.ledger, refs[index], error)

    for indexes in _groups(refs).values():
        asked = [refs[i] for i in indexes]
        try:
            for index, status in zip(indexes, await client.statuses(asked), strict=True):
                found[index] = status
            continue
        except RunhubError as error:
            if len(asked) == 1 or not about_one_run(error):
                for index in indexes:
                    found[index] = settle(client.ledger, refs[index], error)
                continue
        await asyncio.gather(*(one(i) for i in indexes))
    return [f for f in found if f is not None]


async def watch(
    client: AsyncClient, refs: Sequence[RunRef], poll: PollSchedule, fresh: float | None = None
) -> AsyncIterator[Outcome]:
    """Like ``AsyncClient.watch``, yielding problems as well as statuses.

    A run whose ask fails with an error no retry fixes (not found, refused) is
    yielded as a Problem and no longer asked; a network or platform error is
    given :data:`PATIENCE` polls before it is. ``fresh``: runs the ledger recorded
    less than that many seconds ago are taken from it, not polled (runhub.freshness).
    """
    import time

    from runhub.errors import is_transient
    from runhub.freshness import recorded

    pending = list(dict.fromkeys(refs))
    seen: dict[str, tuple[str, str | None]] = {}
    strikes: dict[str, int] = {}
    delays = iter(poll.delays())
    ledger = client.ledger if fresh else None
    while pending:
        known: list[Outcome] = []
        asked = pending
        if ledger is not None and fresh:
            heard, asked = recorded(ledger, pending, fresh, time.time())
            known.extend(heard)
        found = await astatuses(client, asked) if asked else []
        for outcome in [*known, *found]:
            key = str(outcome.ref)
            if isinstance(outcome, Problem):
                passing = is_transient(outcome.error)
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


__all__ = [
    "PATIENCE",
    "Problem",
    "about_one_run",
    "astatuses",
    "exit_code",
    "settle",
    "statuses",
    "watch",
]
