"""One run-state vocabulary for every platform (DESIGN.md §4).

Plain dataclasses, not pydantic: a status is built for every poll of every run,
so it must be cheap to create and small to keep (tracking 10,000 runs).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from runhub.ref import RunRef


class RunState(enum.StrEnum):
    """Where a run is, in runhub's shared vocabulary."""

    PENDING = "PENDING"
    QUEUED = "QUEUED"
    INITIALIZING = "INITIALIZING"
    RUNNING = "RUNNING"
    FINALIZING = "FINALIZING"
    CANCELLING = "CANCELLING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"

    @property
    def is_terminal(self) -> bool:
        """True once the run can no longer change (defined positively)."""
        return self in _TERMINAL

    @property
    def ok(self) -> bool:
        """True only for a run that ended successfully."""
        return self is RunState.SUCCEEDED

    def to_wes(self) -> str:
        """The GA4GH WES 1.1 ``State`` name for this state."""
        return _WES[self]

    def __str__(self) -> str:
        return self.value


_TERMINAL = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED})

_WES: dict[RunState, str] = {
    RunState.PENDING: "QUEUED",
    RunState.QUEUED: "QUEUED",
    RunState.INITIALIZING: "INITIALIZING",
    RunState.RUNNING: "RUNNING",
    RunState.FINALIZING: "RUNNING",
    RunState.CANCELLING: "CANCELING",
    RunState.SUCCEEDED: "COMPLETE",
    RunState.FAILED: "EXECUTOR_ERROR",
    RunState.CANCELLED: "CANCELED",
    RunState.UNKNOWN: "UNKNOWN",
}


def map_state(table: dict[str, RunState], native: str | None) -> RunState:
    """Look ``native`` up in a backend's state table; anything unknown is UNKNOWN.

    Never raises: platforms add states over time and runhub must keep working.
    """
    if native is None:
        return RunState.UNKNOWN
    return table.get(native, RunState.UNKNOWN)


@dataclass(frozen=True, slots=True)
class RunStatus:
    """What a platform says about one run at one moment.

    ``native`` always keeps the platform's own state text (with any qualifier such
    as Code Ocean's ``end_status``), so nothing is lost by the mapping to ``state``.
    """

    ref: RunRef
    state: RunState
    native: str | None = None
    message: str | None = None
    created: datetime | None = None
    started: datetime | None = None
    ended: datetime | None = None
    exit_code: int | None = None
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_terminal(self) -> bool:
        """True once the run can no longer change."""
        return self.state.is_terminal

    @property
    def ok(self) -> bool:
        """True only for a run that ended successfully."""
        return self.state.ok

    def to_wes(self) -> str:
        """The GA4GH WES 1.1 state name of this status."""
        return self.state.to_wes()

    def with_(self, **changes: Any) -> RunStatus:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable shape (used by ``-o json``)."""

        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "ref": str(self.ref),
            "state": self.state.value,
            "native": self.native,
            "message": self.message,
            "name": self.name,
            "created": iso(self.created),
            "started": iso(self.started),
            "ended": iso(self.ended),
            "exit_code": self.exit_code,
            "wes_state": self.to_wes(),
        }
