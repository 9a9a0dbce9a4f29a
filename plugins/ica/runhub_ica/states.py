"""ICA V4 analysis status -> RunState (DESIGN.md §4)."""

from __future__ import annotations

from types import MappingProxyType

from runhub.state import RunState

#: Every V4 status the spec lists (an open string since V4; anything else is UNKNOWN).
STATES = MappingProxyType(
    {
        "REQUESTED": RunState.PENDING,
        "QUEUED": RunState.QUEUED,
        "INITIALIZING": RunState.INITIALIZING,
        "PREPARING_INPUTS": RunState.INITIALIZING,
        "IN_PROGRESS": RunState.RUNNING,
        "AWAITING_INPUT": RunState.RUNNING,
        "GENERATING_OUTPUTS": RunState.FINALIZING,
        "ABORTING": RunState.CANCELLING,
        "SUCCEEDED": RunState.SUCCEEDED,
        "FAILED": RunState.FAILED,
        "FAILED_FINAL": RunState.FAILED,
        "ABORTED": RunState.CANCELLED,
    }
)

#: The lifecycle of a successful analysis, in order (the emulator follows it).
LIFECYCLE = (
    "REQUESTED",
    "QUEUED",
    "INITIALIZING",
    "PREPARING_INPUTS",
    "IN_PROGRESS",
    "GENERATING_OUTPUTS",
    "SUCCEEDED",
)
