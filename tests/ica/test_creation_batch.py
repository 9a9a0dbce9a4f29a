"""ICA creation batches through AsyncClient.launch_many: chunks, exactly once per row
at every crash point, partial failure, whole-chunk refusal, key replay, opting out."""

from __future__ import annotations

from pathlib import Path

import pytest
from runhub_ica.creationbatch import Note, chunk_key
from runhub_ica.emulator import IcaEmulator

from runhub.errors import PlatformError
from runhub.ledger import launch_key
from runhub.state import RunStatus
from runhub.testing.emulator import Clock

from .creation_kit import (
    BATCH,
    Crash,
    Crashing,
    check_exactly_once,
    died,
    launch,
    ledger_at,
    posts,
    row_spec,
)


@pytest.fixture
def app() -> IcaEmulator:
    return IcaEmulator(Clock(speed=50.0))


def test_rows_go_in_chunks_and_each_gets_its_own_analysis(app: IcaEmulator, tmp_path: Path) -> None:
    specs = [row_spec(i) for i in range(10)]
    results = launch(app, ledger_at(tmp_path), specs, size=4)
    check_exactly_once(app, results, 10)
    assert posts(app) == 3  # 4 + 4 + 2
    assert not any("/analysis:nextflow" in line for line in app.log)  # no per-run create


def test_chunk_membership_and_key_come_from_the_launch_keys(
    app: IcaEmulator, tmp_path: Path
) -> None:
    ledger = ledger_at(tmp_path)
    launch(app, ledger, [row_spec(i) for i in range(6)], size=3)
    keys = sorted(launch_key(BATCH, f"row-{i}") for i in range(6))
    notes = {r.key: Note.parse(r.launch_group) for r in ledger.batch(BATCH)}
    assert {n.key for n in notes.values() if n} == {chunk_key(keys[:3]), chunk_key(keys[3:])}
    assert all(n is not None and n.batch_id in app.batches.batches for n in notes.values())


def test_items_are_matched_by_name_and_key_tag_not_position(
    app: IcaEmulator, tmp_path: Path
) -> None:
    original = app.batches.create

    def reversed_items(call):  # type: ignore[no-untyped-def]
        answer = original(call)
        batch = list(app.batches.batches.values())[-1]
        batch.items.reverse()  # listed in the opposite order of the request
        return answer

    app.batches.create = reversed_items  # type: ignore[method-assign]
    app._routes = app._make_routes()
    results = launch(app, ledger_at(tmp_path), [row_spec(i) for i in range(5)], size=5)
    check_exactly_once(app, results, 5)


@pytest.mark.parametrize(
    ("where", "after"),
    [
        ("/analysisCreationBatch", False),  # noted and marked sent; never reached ICA
        ("/analysisCreationBatch", True),  # accepted by ICA; the answer never read
        ("/items", False),  # ICA's batch id recorded; killed reading the items
    ],
    ids=["before-post", "after-post", "reading-items"],
)
def test_a_crash_at_any_point_then_a_rerun_gives_one_analysis_per_row(
    app: IcaEmulator, tmp_path: Path, where: str, after: bool
) -> None:
    ledger = ledger_at(tmp_path)
    specs = [row_spec(i) for i in range(6)]
    crashing = Crashing(app, lambda r: r.url.path.endswith(where), after=after)
    with pytest.raises(Crash):
        launch(app, ledger, specs, transport=crashing, size=3)
    died(ledger)
    results = launch(app, ledger, specs, size=3)
    check_exactly_once(app, results, 6)
    if where == "/items":  # the batch id was known: nothing sent again
        assert posts(app) == 2


def test_a_dropped_answer_is_replayed_under_the_same_key(app: IcaEmulator, tmp_path: Path) -> None:
    app.batches.drop_answers = 2  # both chunks: accepted, their answers lost
    results = launch(app, ledger_at(tmp_path), [row_spec(i) for i in range(6)], size=3)
    check_exactly_once(app, results, 6)
    assert posts(app) == 4  # each chunk sent twice, created once
    assert len(app.batches.batches) == 2


def test_a_key_still_in_progress_is_waited_for(app: IcaEmulator, tmp_path: Path) -> None:
    from runhub_ica.emulator.variance import Variance

    app.variance = Variance(in_flight_conflicts=1)
    app.batches.drop_answers = 1  # the answer is lost; the retry gets 409, then the replay
    results = launch(app, ledger_at(tmp_path), [row_spec(i) for i in range(3)], size=3)
    check_exactly_once(app, results, 3)


def test_an_item_that_fails_fails_only_its_row(app: IcaEmulator, tmp_path: Path) -> None:
    specs = [row_spec(i) for i in range(5)]
    missing = "fil.0123456789abcdef0123456789abcdef"
    specs[2] = row_spec(2, mounts=[{"source": missing, "input": "fastqs"}])
    ledger = ledger_at(tmp_path)
    results = launch(app, ledger, specs, size=5)
    error = results[2]
    assert isinstance(error, PlatformError)
    assert f"Data {missing} does not exist" in str(error)
    assert all(isinstance(r, RunStatus) for i, r in enumerate(results) if i != 2)
    assert len(app.analyses) == 4
    row = next(r for r in ledger.batch(BATCH) if r.row_key == "row-2")
    assert row.ref is None
    assert row.error is not None
    assert "does not exist" in row.error


def test_a_chunk_refused_whole_is_split_until_the_bad_row_stands_alone(
    app: IcaEmulator, tmp_path: Path
) -> None:
    app.batches.refuse_references = {"sample 005"}
    results = launch(app, ledger_at(tmp_path), [row_spec(i) for i in range(8)], size=8)
    bad = results[5]
    assert isinstance(bad, PlatformError)
    assert bad.status == 400
    assert "userReference" in str(bad)
    assert all(isinstance(r, RunStatus) for i, r in enumerate(results) if i != 5)
    assert len(app.analyses) == 7
    assert posts(app) <= 1 + 2 * 3  # halving 8 -> 4 -> 2 -> 1


def test_a_too_large_answer_shrinks_the_chunk(app: IcaEmulator, tmp_path: Path) -> None:
    app.batches.max_items = 3
    results = launch(app, ledger_at(tmp_path), [row_spec(i) for i in range(12)], size=12)
    check_exactly_once(app, results, 12)
    assert all(len(b.items) <= 3 for b in app.batches.batches.values())


def test_same_key_with_another_body_is_reported_as_a_bug(app: IcaEmulator, tmp_path: Path) -> None:
    ledger = ledger_at(tmp_path)
    specs = [row_spec(i) for i in range(3)]
    crashing = Crashing(app, lambda r: r.url.path.endswith("/items"), after=False)
    with pytest.raises(Crash):
        launch(app, ledger, specs, transport=crashing, size=3)
    died(ledger)
    for row in ledger.batch(BATCH):  # forget ICA's batch id: the chunk is sent again
        note = Note.parse(row.launch_group)
        assert note is not None
        assert note.batch_id
        ledger.grouped([row.key], str(Note(note.project, note.key)))
    changed = [row_spec(i, parameters={"sample_ids": ["other"]}) for i in range(3)]
    results = launch(app, ledger, changed, size=3)
    assert all(isinstance(r, PlatformError) and "runhub bug" in str(r) for r in results)
    app.clock.advance(60)
    app.batches.advance()
    assert len(app.analyses) == 3  # the first batch's, nothing created twice


def test_opting_out_sends_one_request_per_run(app: IcaEmulator, tmp_path: Path) -> None:
    results = launch(
        app, ledger_at(tmp_path), [row_spec(i) for i in range(4)], creation_batch=False
    )
    assert all(isinstance(r, RunStatus) for r in results)
    assert posts(app) == 0
    assert sum(1 for line in app.log if line.endswith("/analysis:nextflow")) == 4


def test_kinds_the_batch_cannot_take_are_launched_alone(app: IcaEmulator, tmp_path: Path) -> None:
    custom = {"kind": "nextflow-custom"}
    specs = [row_spec(i) for i in range(3)]
    specs += [
        row_spec(i, options={"ica": custom}, mounts=[], parameters={"x": str(i)})
        for i in range(3, 5)
    ]
    results = launch(app, ledger_at(tmp_path), specs, size=10)
    assert all(isinstance(r, RunStatus) for r in results), results
    assert posts(app) == 1
    assert sum(1 for line in app.log if line.endswith("/analysis:nextflowWithCustomInput")) == 2


def test_a_single_launch_keeps_the_per_run_path(app: IcaEmulator, tmp_path: Path) -> None:
    results = launch(app, ledger_at(tmp_path), [row_spec(0)])
    assert isinstance(results[0], RunStatus)
    assert posts(app) == 0


def test_runs_of_a_creation_batch_are_watched_with_the_batch_search(
    app: IcaEmulator, tmp_path: Path
) -> None:
    import asyncio

    from .creation_kit import client

    ledger = ledger_at(tmp_path)
    results = launch(app, ledger, [row_spec(i) for i in range(4)])
    refs = [r.ref for r in results if isinstance(r, RunStatus)]
    assert all(ref.batch == BATCH for ref in refs)
    app.log.clear()

    async def poll() -> list[RunStatus]:
        async with client(app, ledger) as c:
            return await c.statuses(refs)

    found = asyncio.run(poll())
    assert [s.ref for s in found] == refs
    assert sum(1 for line in app.log if line.endswith("analysis:search")) == 1
    assert not any("/analyses/" in line for line in app.log)


def test_cwl_rows_go_in_cwl_items_with_a_structured_input(app: IcaEmulator, tmp_path: Path) -> None:
    mounts = [
        {"source": "/fastqs/", "input": "reads"},
        {"source": "/reference/GRCh38.fa", "input": "reference"},
    ]
    specs = [
        row_spec(i, pipeline="bwa-mem-cwl-0-7-17", mounts=mounts, parameters={},
                 options={"ica": {"kind": "cwl"}})
        for i in range(3)
    ]  # fmt: skip
    results = launch(app, ledger_at(tmp_path), specs)
    check_exactly_once(app, results, 3)
    (batch,) = app.batches.batches.values()
    assert {i.kind for i in batch.items} == {"cwlWithStructuredInput"}
    assert all(i.body["analysisInput"]["objectType"] == "STRUCTURED" for i in batch.items)


def test_beyond_the_key_window_a_sent_chunk_is_found_by_key_tag(
    app: IcaEmulator, tmp_path: Path
) -> None:
    ledger = ledger_at(tmp_path)
    specs = [row_spec(i) for i in range(4)]
    crashing = Crashing(app, lambda r: r.url.path.endswith("/analysisCreationBatch"), after=True)
    with pytest.raises(Crash):
        launch(app, ledger, specs, transport=crashing, size=4)
    died(ledger)
    with ledger._db() as db:  # sent 8 days ago; ICA no longer replays the answer
        db.execute("UPDATE launches SET attempted_at = attempted_at - 8 * 86400")
    app.forget_idempotency()
    app.clock.advance(60)
    results = launch(app, ledger, specs, size=4)
    check_exactly_once(app, results, 4)
    assert posts(app) == 1  # never sent again: each row was found by its key tag


def test_a_row_sent_in_a_group_is_never_sent_alone(app: IcaEmulator, tmp_path: Path) -> None:
    from runhub.tracking import InGroup, tracked_launch

    from .creation_kit import client

    ledger = ledger_at(tmp_path)
    specs = [row_spec(i) for i in range(3)]
    crashing = Crashing(app, lambda r: r.url.path.endswith("/analysisCreationBatch"), after=True)
    with pytest.raises(Crash):
        launch(app, ledger, specs, transport=crashing, size=3)
    died(ledger)
    record = next(r for r in ledger.batch(BATCH) if r.row_key == "row-0")
    assert record.launch_group
    backend = client(app, ledger).backend("ica")
    with pytest.raises(InGroup):
        next(iter(tracked_launch(backend, specs[0], record, ledger)))  # type: ignore[call-overload]
    died(ledger)
    # opting out now still finishes them through their creation batch, once each
    results = launch(app, ledger, specs, size=3, creation_batch=False)
    check_exactly_once(app, results, 3)
    assert posts(app) == 2
