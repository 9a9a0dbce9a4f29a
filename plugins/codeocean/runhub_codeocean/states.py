"""Code Ocean computation JSON -> RunStatus (DESIGN.md §4), leniently.

The official SDK raises on a state it does not know; runhub maps anything unknown
to UNKNOWN and keeps the raw text in ``native``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from runhub.backend import RunRef
from runhub.state import RunState, RunStatus

BACKEND = "codeocean"

#: ``state`` values that do not need ``end_status`` to be understood.
STATES: Mapping[str, RunState] = {
    "initializing": RunState.INITIALIZING,
    "running": RunState.RUNNING,
    "finalizing": RunState.FINALIZING,
    "failed": RunState.FAILED,
}

#: ``end_status`` of a ``completed`` computation.
END_STATUSES: Mapping[str, RunState] = {
    "succeeded": RunState.SUCCEEDED,
    "failed": RunState.FAILED,
    "stopped": RunState.CANCELLED,
}


def map_state(state: Any, end_status: Any, exit_code: Any) -> RunState:
    """The RunState for a computation's ``state``/``end_status``/``exit_code``."""
    if state != "completed":
        return STATES.get(state, RunState.UNKNOWN) if isinstance(state, str) else RunState.UNKNOWN
    if end_status is not None:
        mapped = END_STATUSES.get(end_status) if isinstance(end_status, str) else None
        if mapped is not None:
            return mapped
    # No (or an unknown) end_status: judge by the exit code, as the SDK's users do.
    if isinstance(exit_code, int) and not isinstance(exit_code, bool):
        return RunState.SUCCEEDED if exit_code == 0 else RunState.FAILED
    return RunState.SUCCEEDED if end_status is None else RunState.UNKNOWN


def native_of(state: Any, end_status: Any) -> str | None:
    """``state`` plus ``end_status`` when there is one, e.g. ``completed/stopped``."""
    if state is None:
        return None
    return f"{state}/{end_status}" if end_status else str(state)


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None


def to_status(
    data: Mapping[str, Any], ref: RunRef | None = None, message: str | None = None
) -> RunStatus:
    """A RunStatus from one computation object (``GET computations/{id}`` or a listing item)."""
    if ref is None:
        ref = RunRef(BACKEND, str(data.get("id", "")))
    state_text = data.get("state")
    end_status = data.get("end_status")
    exit_code = data.get("exit_code")
    state = map_state(state_text, end_status, exit_code)
    created = _time(data.get("created"))
    ended = None
    run_time = data.get("run_time")
    if state.is_terminal and created is not None and isinstance(run_time, int | float):
        ended = _time(data["created"] + run_time)
    if message is None and state is RunState.UNKNOWN:
        message = (
            f"Code Ocean reported state {native_of(state_text, end_status)!r}, unknown to runhub"
        )
    extra = {}
    if data.get("has_results") is not None:
        extra["has_results"] = data["has_results"]
    if run_time is not None:
        extra["run_time"] = run_time
    return RunStatus(
        ref=ref,
        state=state,
        native=native_of(state_text, end_status),
        message=message,
        created=created,
        ended=ended,
        exit_code=exit_code if isinstance(exit_code, int) else None,
        name=data.get("name"),
        extra=extra,
    )
