"""ICA V4 statuses -> RunState (DESIGN.md §4); unknown text is UNKNOWN, never an error."""

from __future__ import annotations

from typing import Any

import pytest
from runhub_ica.backend import IcaBackend
from runhub_ica.settings import IcaSettings

from runhub.backend import RunRef
from runhub.state import RunState

DESIGN_TABLE = {
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


@pytest.fixture
def backend() -> IcaBackend:
    return IcaBackend(IcaSettings())


@pytest.mark.parametrize(("native", "state"), list(DESIGN_TABLE.items()))
def test_design_state_map(backend: IcaBackend, native: str, state: RunState) -> None:
    assert backend.state_of(native) is state


def test_the_map_covers_the_spec_pattern(backend: IcaBackend) -> None:
    pattern = (
        "REQUESTED|QUEUED|INITIALIZING|PREPARING_INPUTS|IN_PROGRESS|GENERATING_OUTPUTS|"
        "AWAITING_INPUT|ABORTING|SUCCEEDED|FAILED|FAILED_FINAL|ABORTED"
    )
    assert set(pattern.split("|")) == set(backend.states)


@pytest.mark.parametrize("native", ["PAUSED", "INPROGRESS", "", None])
def test_unknown_statuses_keep_native(backend: IcaBackend, native: Any) -> None:
    body = {"id": "a1", "status": native, "userReference": "x"}
    status = backend._to_status(body, "p1", "b1")
    assert status.state is RunState.UNKNOWN
    assert status.native == (native if isinstance(native, str) else None)
    assert status.ref == RunRef("ica", "p1/a1")
    assert str(status.ref) == "ica:p1/a1"
    assert status.ref.batch == "b1"
