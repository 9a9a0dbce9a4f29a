"""RunState and RunStatus: the shared vocabulary and its WES 1.1 names (DESIGN.md §4)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from runhub.backend import RunRef
from runhub.state import RunState, RunStatus, map_state

# The RunState -> WES 1.1 column of DESIGN.md §4, row by row.
WES = [
    (RunState.PENDING, "QUEUED"),
    (RunState.QUEUED, "QUEUED"),
    (RunState.INITIALIZING, "INITIALIZING"),
    (RunState.RUNNING, "RUNNING"),
    (RunState.FINALIZING, "RUNNING"),
    (RunState.CANCELLING, "CANCELING"),
    (RunState.SUCCEEDED, "COMPLETE"),
    (RunState.FAILED, "EXECUTOR_ERROR"),
    (RunState.CANCELLED, "CANCELED"),
    (RunState.UNKNOWN, "UNKNOWN"),
]
#: Every state name WES 1.1 defines (its State enum).
WES_STATES = {
    "UNKNOWN", "QUEUED", "INITIALIZING", "RUNNING", "PAUSED", "COMPLETE", "EXECUTOR_ERROR",
    "SYSTEM_ERROR", "CANCELED", "CANCELING", "PREEMPTED",
}  # fmt: skip


@pytest.mark.parametrize(("state", "wes"), WES)
def test_wes_names(state: RunState, wes: str) -> None:
    assert state.to_wes() == wes
    assert wes in WES_STATES


def test_the_table_covers_every_state() -> None:
    assert {state for state, _ in WES} == set(RunState)


@pytest.mark.parametrize("state", list(RunState))
def test_terminal_and_ok(state: RunState) -> None:
    terminal = state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)
    assert state.is_terminal is terminal
    assert state.ok is (state is RunState.SUCCEEDED)


def test_unknown_and_cancelling_are_not_terminal() -> None:
    # A wait must go on through both: UNKNOWN may resolve, CANCELLING will settle.
    assert not RunState.UNKNOWN.is_terminal
    assert not RunState.CANCELLING.is_terminal


def test_states_are_their_names_as_text() -> None:
    for state in RunState:
        assert str(state) == state.name == state.value
        assert RunState(state.name) is state


def test_map_state_never_raises() -> None:
    table = {"running": RunState.RUNNING}
    assert map_state(table, "running") is RunState.RUNNING
    assert map_state(table, "RUNNING") is RunState.UNKNOWN
    assert map_state(table, "hibernating") is RunState.UNKNOWN
    assert map_state(table, None) is RunState.UNKNOWN
    assert map_state({}, "") is RunState.UNKNOWN


def test_status_to_dict_has_a_stable_shape() -> None:
    created = datetime(2026, 11, 23, 3, 15, tzinfo=UTC)
    status = RunStatus(
        ref=RunRef("ica", "proj/ana", batch="b1"),
        state=RunState.FAILED,
        native="FAILED_FINAL",
        message="step 3 failed",
        created=created,
        started=created.replace(minute=16),
        ended=created.replace(minute=20),
        exit_code=2,
        name="sample-A",
        extra={"raw": {"status": "FAILED_FINAL"}},
    )
    assert status.to_dict() == {
        "ref": "ica:proj/ana",
        "state": "FAILED",
        "native": "FAILED_FINAL",
        "message": "step 3 failed",
        "name": "sample-A",
        "created": "2026-11-23T03:15:00+00:00",
        "started": "2026-11-23T03:16:00+00:00",
        "ended": "2026-11-23T03:20:00+00:00",
        "exit_code": 2,
        "wes_state": "EXECUTOR_ERROR",
    }


def test_minimal_status() -> None:
    status = RunStatus(RunRef("local", "x"), RunState.RUNNING)
    data = status.to_dict()
    assert data["ref"] == "local:x"
    assert data["state"] == "RUNNING"
    assert data["wes_state"] == "RUNNING"
    assert all(data[k] is None for k in ("native", "message", "created", "ended", "exit_code"))
    assert not status.is_terminal
    assert not status.ok
    assert status.to_wes() == "RUNNING"


def test_with_changes_a_copy_only() -> None:
    status = RunStatus(RunRef("local", "x"), RunState.RUNNING, native="RUNNING")
    done = status.with_(state=RunState.SUCCEEDED, exit_code=0)
    assert done.ok
    assert done.is_terminal
    assert done.exit_code == 0
    assert done.native == "RUNNING"
    assert status.state is RunState.RUNNING


def test_extra_is_not_part_of_equality_or_repr() -> None:
    a = RunStatus(RunRef("local", "x"), RunState.RUNNING, extra={"raw": "secret-ish body"})
    b = RunStatus(RunRef("local", "x"), RunState.RUNNING)
    assert a == b
    assert "secret-ish" not in repr(a)
