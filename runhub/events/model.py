"""What an event says once read: :class:`StatusEvent`, and :class:`Unreadable`.

Plain data, built by a backend's ``parse_event`` (ICA: ``runhub_ica.events``) from a
platform's notification and consumed by :mod:`runhub.events.apply`. Nothing here
knows a platform or an envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from runhub.state import RunState, RunStatus


class Unreadable(Exception):
    """A message no envelope reader nor backend could make sense of.

    Never fatal: the consumer logs it with the message id and leaves the message
    to the queue's redrive (dead-letter) policy. The text says what was wrong and
    holds no message content beyond field names.
    """


@dataclass(frozen=True, slots=True)
class StatusEvent:
    """One platform notification about one run, in runhub's words.

    ``event_id`` is the platform's id for the notification (ICA ``correlationId``):
    a redelivery carries the same one. ``key`` is the runhub launch key the run was
    tagged with at launch, if any (ICA technical tag ``runhub-key:<key>``): it finds
    the ledger row even before the run's ref was recorded there. ``status.ref.batch``
    carries the launch batch tag, so the run stays cheap to poll.
    """

    event_id: str | None
    status: RunStatus
    key: str | None = None
    #: The platform's event code (ICA ``ICA_EXEC_028``), for logs.
    code: str | None = None
    #: When the platform says the change happened.
    at: datetime | None = None
    #: The native state before this change, where the platform says.
    previous: str | None = None

    @property
    def ref(self) -> str:
        """The run's ref in text form (``ica:<project>/<analysis>``)."""
        return str(self.status.ref)

    @property
    def state(self) -> RunState:
        """The run's state after the change."""
        return self.status.state

    @property
    def native(self) -> str | None:
        """The platform's own name of that state."""
        return self.status.native


@dataclass(frozen=True, slots=True)
class Ignored:
    """A platform's well-formed message that carries no run status runhub follows
    (another event code): acknowledged and dropped, never retried."""

    reason: str
    event_id: str | None = None


#: How far along its life each state is: an event never moves a run to a lower rank.
#: CANCELLING may follow any live state; UNKNOWN (a state this runhub cannot read)
#: never replaces a known one.
RANK: dict[RunState, int] = {
    RunState.UNKNOWN: -1,
    RunState.PENDING: 0,
    RunState.QUEUED: 1,
    RunState.INITIALIZING: 2,
    RunState.RUNNING: 3,
    RunState.FINALIZING: 4,
    RunState.CANCELLING: 5,
    RunState.SUCCEEDED: 6,
    RunState.FAILED: 6,
    RunState.CANCELLED: 6,
}


def moves_forward(recorded: str | None, new: RunState) -> bool:
    """True if a run recorded in state ``recorded`` (a RunState value, or None) may
    move to ``new``: later in its life, or a first state. A terminal state is final."""
    if recorded is None:
        return True
    try:
        old = RunState(recorded)
    except ValueError:
        old = RunState.UNKNOWN
    if old.is_terminal:
        return False
    return RANK[new] > RANK[old]


__all__ = ["RANK", "Ignored", "StatusEvent", "Unreadable", "moves_forward"]
