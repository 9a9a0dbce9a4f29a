"""EventSink's rules one by one: matching by key tag or ref, never backwards, who hears."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from runhub_ica.emulator import seed

from runhub.aio import AsyncClient
from runhub.backend import RunRef
from runhub.errors import ConfigError
from runhub.events import EventSink, Outcome, moves_forward
from runhub.ledger import Ledger
from runhub.state import RunState, RunStatus

from .conftest import plugins
from .test_read import ANALYSIS, KEY, message

REF = f"ica:{seed.PROJECT_ID}/{ANALYSIS}"


class Heard:
    def __init__(self) -> None:
        self.refs: list[str] = []

    async def __call__(self, client: AsyncClient, refs: Sequence[str]) -> None:
        self.refs.extend(refs)


def launched(ledger: Ledger, state: RunState = RunState.RUNNING, *, ref: bool = True) -> None:
    ledger.intent("ica", "hash", key=KEY, name="step1-sampleA")
    ledger.attempt(KEY)
    if ref:
        ledger.launched(KEY, RunStatus(RunRef.parse(REF), state, "IN_PROGRESS"))


@pytest.fixture
async def sink(ledger: Ledger) -> tuple[EventSink, Heard]:
    heard = Heard()
    client = AsyncClient(ledger=ledger, plugins=plugins())
    return EventSink(client, [heard]), heard


def test_the_store_never_moves_a_terminal_run_back(ledger: Ledger, tmp_path: Path) -> None:
    launched(ledger, RunState.SUCCEEDED)
    with Ledger(ledger.path) as other:  # another process's connection
        other.observe([RunStatus(RunRef.parse(REF), RunState.RUNNING, "IN_PROGRESS")])
    row = ledger.by_ref(REF)
    assert row is not None
    assert (row.state, row.native) == ("SUCCEEDED", "IN_PROGRESS")  # launched() wrote native


@pytest.mark.parametrize(
    ("recorded", "new", "moves"),
    [
        (None, RunState.PENDING, True),
        ("QUEUED", RunState.RUNNING, True),
        ("RUNNING", RunState.QUEUED, False),
        ("RUNNING", RunState.RUNNING, False),
        ("RUNNING", RunState.CANCELLING, True),
        ("FINALIZING", RunState.SUCCEEDED, True),
        ("SUCCEEDED", RunState.FAILED, False),
        ("RUNNING", RunState.UNKNOWN, False),
        ("UNKNOWN", RunState.QUEUED, True),
        ("made-up", RunState.QUEUED, True),
    ],
)
def test_moves_forward(recorded: str | None, new: RunState, moves: bool) -> None:
    assert moves_forward(recorded, new) is moves


async def test_an_event_finds_its_row_by_ref_and_records_the_state(
    sink: tuple[EventSink, Heard], ledger: Ledger
) -> None:
    events, heard = sink
    launched(ledger)
    body = message()
    body["payload"]["tags"]["technicalTags"] = []  # no key tag: found by its ref
    handled = await events.handle(body, "m-1")
    assert handled.outcome is Outcome.APPLIED
    assert ledger.by_ref(REF).state == "SUCCEEDED"  # type: ignore[union-attr]
    assert heard.refs == [REF]


async def test_a_launch_whose_answer_was_lost_is_adopted_by_its_key_tag(
    sink: tuple[EventSink, Heard], ledger: Ledger
) -> None:
    events, heard = sink
    launched(ledger, ref=False)  # sent, then the process died before recording the answer
    handled = await events.handle(message(status="QUEUED"))
    assert handled.outcome is Outcome.APPLIED
    row = ledger.get(KEY)
    assert row is not None
    assert (row.ref, row.state, row.ref_group) == (REF, "QUEUED", "b-7")
    assert heard.refs == [REF]


async def test_a_run_no_row_knows_and_other_events_reach_no_listener(
    sink: tuple[EventSink, Heard], ledger: Ledger
) -> None:
    events, heard = sink
    assert (await events.handle(message())).outcome is Outcome.UNKNOWN_RUN
    ignored = await events.handle({"eventCode": "ICA_JOB_001", "payload": {}})
    assert ignored.outcome is Outcome.IGNORED
    assert ignored.done
    unreadable = await events.handle("[]", "m-9")
    assert unreadable.outcome is Outcome.UNREADABLE
    assert not unreadable.done
    assert heard.refs == []


async def test_a_duplicate_is_dropped_a_stale_event_still_reaches_the_listeners(
    sink: tuple[EventSink, Heard], ledger: Ledger
) -> None:
    events, heard = sink
    launched(ledger)
    assert (await events.handle(message())).outcome is Outcome.APPLIED
    assert (await events.handle(message())).outcome is Outcome.DUPLICATE
    late = message(status="IN_PROGRESS", correlationId="another-delivery")
    assert (await events.handle(late)).outcome is Outcome.STALE
    assert heard.refs == [REF, REF]  # applied, stale: a redelivery after a crash is heard


async def test_a_sink_needs_a_ledger() -> None:
    with pytest.raises(ConfigError, match="ledger"):
        EventSink(AsyncClient(ledger=False, plugins=plugins()))
