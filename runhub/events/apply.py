"""Apply status events to the ledger, then tell the listeners: exactly one effect each.

Messages arrive at least once (SNS, SQS and ICA itself may deliver twice, late or out
of order). :class:`EventSink` makes their effect happen once:

1. an event whose ``event_id`` this sink has already applied in full is a duplicate
   and does nothing (kept in memory, up to ``remember`` ids);
2. the run is found in the ledger by its launch key (runhub's technical tag), else by
   its ref; a run no ledger row knows is not runhub's (or not this ledger's): dropped;
3. its state is recorded only if it moves the run forward (:func:`moves_forward`):
   a late RUNNING never replaces SUCCEEDED, and the store itself never lets a
   terminal state go (``Store.observe``), which holds across processes;
4. only then the listeners run (``await listener(client, refs)``), for every event
   of a known run, changed or not: a redelivery after a crash between the ledger
   write and the listeners must still reach them. Listeners must be idempotent
   (``runhub.chain.advance_chains`` is: each chain step's launch is a ledger row).

A caller deletes or acknowledges the message only after :meth:`EventSink.handle`
returned: what it returned has been committed.
"""

from __future__ import annotations

import enum
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runhub.errors import ConfigError
from runhub.events.model import Ignored, StatusEvent, Unreadable, moves_forward
from runhub.events.read import read

if TYPE_CHECKING:
    from runhub.aio import AsyncClient
    from runhub.ledger import Launch, Ledger

log = logging.getLogger("runhub.events")

#: Called after an event's state is committed: ``await listener(client, refs)``.
Listener = Callable[["AsyncClient", Sequence[str]], Awaitable[None]]


class Outcome(enum.StrEnum):
    """What handling one message did."""

    #: The run's new state was recorded (or its run adopted by its key tag).
    APPLIED = "applied"
    #: A known run, already at this state or further: nothing recorded.
    STALE = "stale"
    #: An event this sink applied before (same event id).
    DUPLICATE = "duplicate"
    #: No ledger row knows the run: not launched through this ledger.
    UNKNOWN_RUN = "unknown-run"
    #: A platform message that carries no run status runhub follows.
    IGNORED = "ignored"
    #: No backend could read it: left for the queue's dead-letter policy.
    UNREADABLE = "unreadable"


@dataclass(frozen=True)
class Handled:
    """The result of one message: its outcome, the event, and why (for logs)."""

    outcome: Outcome
    event: StatusEvent | None = None
    reason: str | None = None
    message_id: str | None = None

    @property
    def done(self) -> bool:
        """True if the message may be deleted: its effect is committed (or it has none)."""
        return self.outcome is not Outcome.UNREADABLE


class EventSink:
    """Applies events to ``client``'s ledger and calls ``listeners`` after each commit."""

    def __init__(
        self,
        client: AsyncClient,
        listeners: Sequence[Listener] = (),
        *,
        remember: int = 100_000,
    ) -> None:
        ledger = client.ledger
        if ledger is None:
            raise ConfigError(
                "events update the ledger: this client has none (ledger=False)",
                hint="give the client a ledger",
            )
        self.client = client
        self.ledger: Ledger = ledger
        self.listeners = list(listeners)
        self.remember = remember
        self._applied: OrderedDict[str, None] = OrderedDict()
        #: Outcomes so far, by kind (for the CLI's summary and the benchmarks).
        self.counts: dict[Outcome, int] = dict.fromkeys(Outcome, 0)

    def read(self, message: Any) -> StatusEvent | Ignored:
        """The event in ``message`` (any envelope); :class:`Unreadable` if none."""
        return read(message, self.client.plugins)

    async def handle(self, message: Any, message_id: str | None = None) -> Handled:
        """Read ``message``, commit its effect, then call the listeners.

        Never raises for a bad message (UNREADABLE, with the reason to log);
        raises what the ledger or a listener raised, with nothing acknowledged, so
        the message is delivered again.
        """
        try:
            found = self.read(message)
        except Unreadable as problem:  # the caller says where it goes (and logs it)
            handled = Handled(Outcome.UNREADABLE, reason=str(problem), message_id=message_id)
            return self._count(handled)
        if isinstance(found, Ignored):
            return self._count(Handled(Outcome.IGNORED, reason=found.reason, message_id=message_id))
        return self._count(await self.apply(found, message_id))

    async def apply(self, event: StatusEvent, message_id: str | None = None) -> Handled:
        """Commit one event's state (if it moves its run forward), then the listeners."""
        if event.event_id is not None and event.event_id in self._applied:
            return Handled(Outcome.DUPLICATE, event, "event already applied", message_id)
        row = self._row(event)
        if row is None:
            log.info("event for %s: no ledger row knows this run; dropped", event.ref)
            return Handled(Outcome.UNKNOWN_RUN, event, "no ledger row knows this run", message_id)
        outcome = Outcome.STALE
        if row.ref is None:  # sent, answer never recorded (a crash): the tag names the row
            self.ledger.launched(row.key, event.status)
            outcome = Outcome.APPLIED
        elif moves_forward(row.state, event.state):
            self.ledger.observe([event.status])
            outcome = Outcome.APPLIED
        log.info("event %s: %s is %s (%s)", event.code, event.ref, event.state, outcome)
        refs = [event.ref]
        for listener in self.listeners:
            await listener(self.client, refs)
        if event.event_id is not None:
            self._applied[event.event_id] = None
            while len(self._applied) > self.remember:
                self._applied.popitem(last=False)
        return Handled(outcome, event, None, message_id)

    def _row(self, event: StatusEvent) -> Launch | None:
        if event.key is not None:
            row = self.ledger.get(event.key)
            if row is not None and row.ref in (None, event.ref) and row.attempted:
                return row
        return self.ledger.by_ref(event.ref)

    def _count(self, handled: Handled) -> Handled:
        self.counts[handled.outcome] += 1
        return handled


__all__ = ["EventSink", "Handled", "Listener", "Outcome"]
