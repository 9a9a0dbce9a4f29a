"""WES ``State`` -> RunState (DESIGN.md §4), and RunStatus from WES answers.

The WES 1.1 ``State`` enum (spec ``components.schemas.State``) has eleven values;
servers add more (sapporo 2.x: ``DELETING``, ``DELETED``). Anything not in the
table is UNKNOWN, never an error, and the native text is always kept.

The spec lists no terminal states; COMPLETE, EXECUTOR_ERROR, SYSTEM_ERROR, CANCELED
and PREEMPTED are terminal by their meaning. PREEMPTED ("the system reclaimed the
compute capacity") did not succeed and was not cancelled by a user: FAILED. PAUSED
is an active run that is not executing right now, as ICA's AWAITING_INPUT is:
RUNNING. Sapporo's DELETING/DELETED mean the run's files are being or were deleted
(``DELETE /runs/{id}``, a sapporo extension); the outcome is no longer recorded,
so they stay UNKNOWN, with a message saying why.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from runhub.backend import RunRef
from runhub.state import RunState, RunStatus

STATES: dict[str, RunState] = {
    "UNKNOWN": RunState.UNKNOWN,
    "QUEUED": RunState.QUEUED,
    "INITIALIZING": RunState.INITIALIZING,
    "RUNNING": RunState.RUNNING,
    "PAUSED": RunState.RUNNING,
    "COMPLETE": RunState.SUCCEEDED,
    "EXECUTOR_ERROR": RunState.FAILED,
    "SYSTEM_ERROR": RunState.FAILED,
    "CANCELED": RunState.CANCELLED,
    "CANCELING": RunState.CANCELLING,
    "PREEMPTED": RunState.FAILED,
}

#: Why a native state says what it says, where the state alone does not tell.
MESSAGES = {
    "PAUSED": "paused on the server",
    "SYSTEM_ERROR": "stopped by a system error on the server (not by the workflow)",
    "PREEMPTED": "preempted: the server reclaimed the compute capacity",
    "DELETING": "the server is deleting this run's files; its outcome is no longer kept",
    "DELETED": "the run was deleted on the server; its outcome is no longer kept",
}


def timestamp(value: Any) -> datetime | None:
    """A WES time (ISO 8601, often without a zone: taken as UTC); None if absent or bad."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def native_state(body: Mapping[str, Any]) -> str | None:
    """The ``state`` text of a RunStatus/RunSummary/RunLog, if it is text."""
    state = body.get("state")
    return state if isinstance(state, str) else None


def to_status(ref: RunRef, body: Mapping[str, Any], name: str | None = None) -> RunStatus:
    """A RunStatus from a ``RunStatus``/``RunSummary``/``RunLog`` body."""
    native = native_state(body)
    log = body.get("run_log")
    log = log if isinstance(log, Mapping) else {}
    exit_code = log.get("exit_code")
    tags = body.get("tags")
    request = body.get("request")
    if not isinstance(tags, Mapping) and isinstance(request, Mapping):
        tags = request.get("tags")
    if name is None and isinstance(tags, Mapping) and isinstance(tags.get("runhub_name"), str):
        name = tags["runhub_name"]
    state = STATES.get(native, RunState.UNKNOWN) if native is not None else RunState.UNKNOWN
    return RunStatus(
        ref=ref,
        state=state,
        native=native,
        message=MESSAGES.get(native or ""),
        started=timestamp(body.get("start_time") or log.get("start_time")),
        ended=timestamp(body.get("end_time") or log.get("end_time")),
        # wes-service reports -1 while a run has not exited: not an exit code.
        exit_code=exit_code if isinstance(exit_code, int) and state.is_terminal else None,
        name=name,
    )
