"""End to end against the emulator in-process: launch, wait, outputs, cancel, states."""

from __future__ import annotations

from typing import Any

import pytest
from runhub_codeocean.backend import CodeOceanBackend
from runhub_codeocean.emulator import CodeOceanEmulator

from runhub.backend import RunRef
from runhub.client import AsyncClient, Client, PollSchedule
from runhub.state import RunState
from runhub.testing.emulator import Clock, FaultPlan, mock_transport

from .conftest import (
    ART_CAPSULE,
    DEFAULT_TOKEN,
    FAST,
    FASTQ_ASSET,
    QC_CAPSULE,
    REFERENCE_ASSET,
    URL,
    finish,
    make_client,
    pipeline_spec,
    plugins,
    spec,
)

POLL = PollSchedule(initial=0.001, factor=1.0, cap=0.001, jitter=0.0)


def test_launch_wait_outputs_download(client: Client, app: CodeOceanEmulator) -> None:
    status = client.launch(
        spec(parameters=["75", "1", "HS25"], mounts=[{"source": REFERENCE_ASSET}])
    )
    assert str(status.ref) == f"codeocean:{app.created[0]}"
    assert status.state is RunState.INITIALIZING
    assert status.created is not None
    app.clock.advance(2)
    assert client.status(status.ref).state is RunState.RUNNING
    finish(app)
    done = client.wait(status.ref, timeout=5, poll=POLL)
    assert done.state is RunState.SUCCEEDED
    assert done.native == "completed/succeeded"
    assert done.exit_code == 0
    outputs = client.outputs(status.ref)
    assert {(o.path, o.size) for o in outputs} == {
        ("output.txt", 42),
        ("summary.json", 128),
        ("logs/run.log", 2048),
        ("logs/nextflow/trace.tsv", 512),
    }
    results_calls = [r for r in app.requests if r[1].endswith("/results")]
    assert len(results_calls) == 3  # root, logs, logs/nextflow: one level per call
    urls = client.download_urls(status.ref, outputs[:1])
    assert urls[0].url is not None
    assert "/emulator-downloads/" in urls[0].url


def test_cancel_stops_and_deletes(client: Client, app: CodeOceanEmulator) -> None:
    status = client.launch(spec(QC_CAPSULE, parameters={"mode": "slow"}))
    app.clock.advance(5)
    assert client.status(status.ref).state is RunState.RUNNING
    cancelled = client.cancel(status.ref)
    assert cancelled.state is RunState.CANCELLED
    assert status.ref.id not in app.runs  # Code Ocean deletes the run
    assert ("DELETE", f"computations/{status.ref.id}") in app.requests
    # The same backend remembers what it deleted; status stays CANCELLED.
    assert client.status(status.ref).state is RunState.CANCELLED


def test_cancel_leaves_a_finished_run_alone(client: Client, app: CodeOceanEmulator) -> None:
    status = client.launch(spec())
    finish(app)
    assert client.cancel(status.ref).state is RunState.SUCCEEDED
    assert status.ref.id in app.runs
    assert not [r for r in app.requests if r[0] == "DELETE"]


def test_cancel_is_marked_destructive(backend: CodeOceanBackend) -> None:
    caps = backend.capabilities
    assert caps.cancel_is_destructive
    assert caps.batch_status
    assert caps.processes
    assert not caps.tags


@pytest.mark.parametrize(
    ("fields", "state", "native"),
    [
        ({"state": "initializing"}, RunState.INITIALIZING, "initializing"),
        ({"state": "running"}, RunState.RUNNING, "running"),
        ({"state": "finalizing"}, RunState.FINALIZING, "finalizing"),
        ({"state": "failed"}, RunState.FAILED, "failed"),
        (
            {"state": "completed", "end_status": "succeeded", "exit_code": 0},
            RunState.SUCCEEDED,
            "completed/succeeded",
        ),
        (
            {"state": "completed", "end_status": "failed", "exit_code": 2},
            RunState.FAILED,
            "completed/failed",
        ),
        ({"state": "completed", "end_status": "stopped"}, RunState.CANCELLED, "completed/stopped"),
        (
            {"state": "completed", "end_status": None, "exit_code": 0},
            RunState.SUCCEEDED,
            "completed",
        ),
        (
            {"state": "completed", "end_status": None, "exit_code": 137},
            RunState.FAILED,
            "completed",
        ),
        (
            {"state": "completed", "end_status": None, "exit_code": None},
            RunState.SUCCEEDED,
            "completed",
        ),
        (
            {"state": "completed", "end_status": "timed_out", "exit_code": 1},
            RunState.FAILED,
            "completed/timed_out",
        ),
        (
            {"state": "completed", "end_status": "timed_out", "exit_code": None},
            RunState.FAILED,
            "completed/timed_out",
        ),
        (
            {"state": "completed", "end_status": "timed_out", "exit_code": 0},
            RunState.FAILED,
            "completed/timed_out",
        ),
        (
            {"state": "completed", "end_status": "succeeded", "exit_code": 3},
            RunState.FAILED,
            "completed/succeeded",
        ),
        ({"state": "queued"}, RunState.UNKNOWN, "queued"),
    ],
)
def test_every_state_maps(
    client: Client, app: CodeOceanEmulator, fields: dict[str, Any], state: RunState, native: str
) -> None:
    ref = client.launch(spec()).ref
    app.force(ref.id, **fields)
    got = client.status(ref)
    assert (got.state, got.native) == (state, native)
    assert got.exit_code == fields.get("exit_code")
    if state is RunState.UNKNOWN:
        assert got.message is not None
    # The batch path maps the same way.
    assert client.statuses([ref])[0].state is state


def test_scripted_fates(client: Client, app: CodeOceanEmulator) -> None:
    failed = client.launch(spec(QC_CAPSULE, parameters={"mode": "fail"})).ref
    crashed = client.launch(spec(QC_CAPSULE, parameters={"mode": "crash"})).ref
    stopped = client.launch(spec()).ref
    app.clock.advance(2)
    app.stop(stopped.id)
    finish(app)
    got = {s.ref.id: s for s in client.statuses([failed, crashed, stopped])}
    assert got[failed.id].state is RunState.FAILED
    assert got[failed.id].exit_code == 1
    assert got[crashed.id].native == "failed"
    assert got[stopped.id].state is RunState.CANCELLED


def test_rename_after_launch(client: Client, app: CodeOceanEmulator) -> None:
    status = client.launch(spec(name="sample-A-run1"))
    assert status.name == "sample-A-run1"
    assert status.message is None
    assert app.runs[status.ref.id].name == "sample-A-run1"
    assert client.status(status.ref).name == "sample-A-run1"


def test_rename_failure_is_reported_not_fatal(
    app: CodeOceanEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    faults = FaultPlan(1.0, ["503"], only=["PATCH"])
    with make_client(app, faults) as client:
        status = client.launch(spec(name="sample-B"))
    assert len(app.created) == 1
    assert status.ref.id == app.created[0]
    assert status.message is not None
    assert "sample-B" in status.message
    assert "naming the run" in caplog.text


def test_statuses_ask_once_per_capsule(client: Client, app: CodeOceanEmulator) -> None:
    refs = [client.launch(spec()).ref for _ in range(4)]
    refs += [client.launch(spec(QC_CAPSULE)).ref for _ in range(3)]
    refs += [client.launch(pipeline_spec()).ref for _ in range(2)]
    app.requests.clear()
    got = client.statuses(refs)
    assert [s.ref for s in got] == refs
    assert sorted(app.requests) == sorted(
        [
            ("GET", f"capsules/{ART_CAPSULE}/computations"),
            ("GET", f"capsules/{QC_CAPSULE}/computations"),
            ("GET", f"pipelines/{pipeline_spec().pipeline}/computations"),
        ]
    )


def test_statuses_fall_back_per_run_for_unseen_refs(app: CodeOceanEmulator) -> None:
    with make_client(app) as first:
        refs = [first.launch(spec()).ref for _ in range(2)]
    app.requests.clear()
    with make_client(app) as fresh:  # a new backend instance has not seen these runs
        got = fresh.statuses([RunRef.parse(str(r)) for r in refs])
    assert [s.state for s in got] == [RunState.INITIALIZING] * 2
    assert app.requests == [("GET", f"computations/{r.id}") for r in refs]


def test_learned_refs_are_batched_in_a_new_process(app: CodeOceanEmulator) -> None:
    with make_client(app) as first:
        refs = [first.launch(spec()).ref for _ in range(3)]
    app.requests.clear()
    with make_client(app) as fresh:
        backend = fresh.backend("codeocean")
        assert isinstance(backend, CodeOceanBackend)
        for ref in refs:
            backend.learn(ref, spec())  # what a ledger of launched specs can tell it
        assert len(fresh.statuses(refs)) == 3
    assert app.requests == [("GET", f"capsules/{ART_CAPSULE}/computations")]


def test_status_of_a_deleted_run_not_launched_here_is_not_found(
    client: Client, app: CodeOceanEmulator
) -> None:
    from runhub.errors import NotFound

    ref = client.launch(spec()).ref
    del app.runs[ref.id]
    with pytest.raises(NotFound):
        client.status(ref)  # one run asked for by id: a typo must say so


def test_pipeline_run_reports_processes(client: Client, app: CodeOceanEmulator) -> None:
    status = client.launch(
        pipeline_spec(
            processes={"capsule_art_simulation_illumina_1": ["75", "1", "HS25"]},
            mounts=[{"source": FASTQ_ASSET, "path": "fastqs"}],
        )
    )
    finish(app)
    assert client.status(status.ref).state is RunState.SUCCEEDED
    assert status.extra["target"].startswith("pipelines/")


async def test_watch_many_runs_asks_once_per_capsule_per_cycle() -> None:
    app = CodeOceanEmulator(clock=Clock(speed=0.0))
    async with AsyncClient(
        settings={"codeocean": {"url": URL, "api_token": DEFAULT_TOKEN}},
        transport=mock_transport(app),
        policy=FAST,
        plugins=plugins(),
    ) as client:
        specs = [spec()] * 40 + [spec(QC_CAPSULE)] * 30 + [pipeline_spec()] * 30
        launched = await client.launch_many(specs, "codeocean", concurrency=8)
        app.requests.clear()
        finals = {}
        async for status in client.watch([s.ref for s in launched], poll=POLL):
            app.clock.advance(0.05)  # runs finish over several poll cycles
            if status.is_terminal:
                finals[status.ref] = status.state
    assert len(finals) == 100
    assert set(finals.values()) == {RunState.SUCCEEDED}
    methods = {method for method, _ in app.requests}
    paths = {path for _, path in app.requests}
    assert methods == {"GET"}
    assert paths == {
        f"capsules/{ART_CAPSULE}/computations",
        f"capsules/{QC_CAPSULE}/computations",
        f"pipelines/{pipeline_spec().pipeline}/computations",
    }
    cycles = [sum(1 for r in app.requests if r[1] == p) for p in sorted(paths)]
    assert cycles[0] > 1
    assert len(set(cycles)) == 1  # one request per capsule in every cycle


def test_state_of_reads_native_text_back(backend: CodeOceanBackend) -> None:
    assert backend.state_of("running") is RunState.RUNNING
    assert backend.state_of("completed/stopped") is RunState.CANCELLED
    assert backend.state_of("completed/failed") is RunState.FAILED
    assert backend.state_of("completed/succeeded") is RunState.SUCCEEDED
    assert backend.state_of("failed") is RunState.FAILED
    assert backend.state_of("completed/what") is RunState.FAILED
    assert backend.state_of("QUEUED") is RunState.UNKNOWN
    assert backend.state_of(None) is RunState.UNKNOWN


def test_ledger_refs_keep_their_capsule_for_a_new_process(
    app: CodeOceanEmulator, tmp_path: Any
) -> None:
    from runhub.ledger import Ledger

    ledger = Ledger(tmp_path / "ledger.sqlite")
    with make_client(app) as first:
        first.ledger = ledger
        for row in range(3):
            first.launch(spec(), batch="b", row_key=str(row))
    app.requests.clear()
    refs = [r.run_ref() for r in ledger.batch("b")]
    with make_client(app) as fresh:  # a new process: only the ledger knows the capsule
        got = fresh.statuses([r for r in refs if r is not None])
    assert len(got) == 3
    assert app.requests == [("GET", f"capsules/{ART_CAPSULE}/computations")]
