"""Code Ocean computation JSON -> RunStatus (DESIGN.md §4), leniently.

The official SDK raises on a state it does not know; runhub maps anything unknown
to UNKNOWN and keeps the raw text in ``native``. The verdict rule: a ``completed``
computation is always terminal, and only ``end_status: succeeded`` with exit code 0
(or none) is a success. The SDK describes ``exit_code`` as "0 for success, non-zero
for failure" and ``end_status`` as "Final status once computation is completed"
(``codeocean/models/computation.py``, SDK 0.17.0), so a non-zero exit code fails the
run whatever ``end_status`` says, and an ``end_status`` this version does not know is
a failure, never a success (``completed/timed_out`` with exit code 0 included).
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

#: ``end_status`` of a ``completed`` computation (the SDK's ``ComputationEndStatus``).
END_STATUSES: Mapping[str, RunState] = {
    "succeeded": RunState.SUCCEEDED,
    "failed": RunState.FAILED,
    "stopped": RunState.CANCELLED,
}

#: Raw ``state`` values after which the computation is over, whatever runhub maps
#: them to: ``cancel`` never deletes such a run (it would only destroy results).
FINISHED = frozenset({"completed", "failed"})


def _exit_code(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def map_state(state: Any, end_status: Any, exit_code: Any) -> RunState:
    """The RunState for a computation's ``state``/``end_status``/``exit_code``."""
    if state != "completed":
        return STATES.get(state, RunState.UNKNOWN) if isinstance(state, str) else RunState.UNKNOWN
    code = _exit_code(exit_code)
    if end_status is None:
        # No verdict field: judge by the exit code, as the SDK's users do (an
        # absent one is taken as 0, like the aind pipeline monitor does).
        return RunState.FAILED if code not in (None, 0) else RunState.SUCCEEDED
    mapped = END_STATUSES.get(end_status) if isinstance(end_status, str) else None
    if mapped is RunState.SUCCEEDED and code not in (None, 0):
        return RunState.FAILED
    # An end_status this version does not know is terminal and not a success.
    return mapped if mapped is not None else RunState.FAILED


def verdict_message(state: Any, end_status: Any, exit_code: Any) -> str | None:
    """Why a ``completed`` computation is FAILED when its fields alone do not say so
    (an unknown ``end_status``, or ``succeeded`` with a non-zero exit code)."""
    if state != "completed":
        return None
    code = _exit_code(exit_code)
    known = isinstance(end_status, str) and end_status in END_STATUSES
    if end_status is not None and not known:
        tail = f", exit code {code}" if code is not None else ""
        return (
            f"Code Ocean reported end_status {end_status!r}{tail}, unknown to runhub:"
            " treated as a failure"
        )
    if code not in (None, 0) and end_status in (None, "succeeded"):
        return f"exited with code {code} (a non-zero exit code is a failure)"
    return None


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
    if message is None:
        message = verdict_message(state_text, end_status, exit_code)
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
        exit_code=_exit_code(exit_code),
        name=data.get("name"),
        extra=extra,
    )
