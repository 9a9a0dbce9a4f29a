"""Issue 12, Code Ocean: runhub correct on the platform as documented, proven
against the emulator's documented-variance mode (in-process; the CLI tests do the
same over HTTP). Each test fails on the code before the issue was fixed."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from runhub_codeocean import backend as backend_module
from runhub_codeocean.backend import CodeOceanBackend
from runhub_codeocean.emulator import CodeOceanEmulator
from runhub_codeocean.errors import UnsettledLaunch
from runhub_codeocean.states import to_status

from runhub.aio import AsyncClient
from runhub.backend import RunRef
from runhub.client import Client, PollSchedule
from runhub.errors import NotFound, RateLimited, SpecError
from runhub.ledger import Ledger
from runhub.spec import RunSpec
from runhub.state import RunState
from runhub.testing.emulator import Clock, FaultPlan, mock_transport

from .conftest import (
    ART_CAPSULE,
    DEFAULT_TOKEN,
    FAST,
    FASTQ_ASSET,
    PIPELINE,
    QC_CAPSULE,
    URL,
    finish,
    make_client,
    plugins,
    spec,
)

POLL = PollSchedule(initial=0.001, factor=1.0, cap=0.001, jitter=0.0)
POSTS = ("POST", "computations")


@pytest.fixture
def vapp() -> CodeOceanEmulator:
    """The emulator with every documented reading switched on."""
    return CodeOceanEmulator(clock=Clock(speed=0.0), variance=True)


def dropped(app: Any, kind: str = "drop-after") -> Client:
    """A client whose next ``POST computations`` fails with ``kind``."""
    faults = FaultPlan(only=["POST /api/v1/computations"])
    faults.push(kind)
    return make_client(app, faults)


class Answering:
    """The emulator, except that listings of computations get ``answer``."""

    def __init__(self, app: CodeOceanEmulator, answer: httpx.Response) -> None:
        self.app = app
        self.answer = answer

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/computations"):
            return self.answer
        return self.app.handle(request)


# -- 1. a completed run is always terminal; only succeeded is a success -------------


@pytest.mark.parametrize(
    ("fate", "native", "exit_code"),
    [("fail", "completed/timed_out", 0), ("crash", "completed/preempted", None)],
)
def test_unknown_end_status_is_a_terminal_failure_and_cancel_leaves_it(
    vapp: CodeOceanEmulator, fate: str, native: str, exit_code: int | None
) -> None:
    with make_client(vapp) as client:
        ref = client.launch(spec(parameters=[fate])).ref
        finish(vapp)
        done = client.wait(ref, timeout=5, poll=POLL)  # returns: the state is terminal
        assert (done.state, done.native, done.exit_code) == (RunState.FAILED, native, exit_code)
        assert done.message is not None
        assert native.split("/")[1] in done.message
        assert client.statuses([ref])[0].state is RunState.FAILED
        assert client.cancel(ref).state is RunState.FAILED
    assert ref.id in vapp.runs
    assert not [r for r in vapp.requests if r[0] == "DELETE"]


@pytest.mark.parametrize("raw", ["completed", "failed"])
def test_cancel_never_deletes_a_finished_computation_whatever_the_mapping(
    app: CodeOceanEmulator, monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    def misread(data: Any, ref: Any = None, message: Any = None) -> Any:
        return dataclasses.replace(to_status(data, ref, message), state=RunState.UNKNOWN)

    monkeypatch.setattr(backend_module, "to_status", misread)  # a mapping gone wrong
    with make_client(app) as client:
        ref = client.launch(spec()).ref
        app.force(ref.id, state=raw, end_status="weird" if raw == "completed" else None)
        assert client.cancel(ref).native is not None
    assert ref.id in app.runs
    assert not [r for r in app.requests if r[0] == "DELETE"]


# -- 2. a non-zero exit code is a failure ---------------------------------------------


def test_succeeded_with_a_nonzero_exit_code_is_a_failure(app: CodeOceanEmulator) -> None:
    with make_client(app) as client:
        ref = client.launch(spec(parameters=["nonzero"])).ref
        finish(app)
        done = client.status(ref)
    assert (done.state, done.native, done.exit_code) == (RunState.FAILED, "completed/succeeded", 3)
    assert done.message is not None
    assert "code 3" in done.message


# -- 3. recovery matches what the platform reports ------------------------------------


def test_named_parameters_reported_as_labels_and_attached_assets_are_recognised(
    vapp: CodeOceanEmulator,
) -> None:
    wanted = spec(
        QC_CAPSULE,
        parameters={"threads": 4, "mode": "fast", "NumFiles": 10},  # not the panel's order
        mounts=[{"source": FASTQ_ASSET, "path": "fastqs"}],
    )
    with dropped(vapp) as client:
        status = client.launch(wanted)
    assert status.extra["recovered"] is True
    assert vapp.created == [status.ref.id]
    assert vapp.requests.count(POSTS) == 1
    assert ("GET", f"capsules/{QC_CAPSULE}/app_panel") in vapp.requests  # labels -> names


def test_ordered_parameters_with_labels_are_recognised_by_position(
    vapp: CodeOceanEmulator,
) -> None:
    with dropped(vapp) as client:
        status = client.launch(spec(parameters=["75", "2", "HS25"]))
    assert status.extra["recovered"] is True
    assert vapp.created == [status.ref.id]


def test_a_version_pin_is_found_in_the_release_capsule_listing(vapp: CodeOceanEmulator) -> None:
    release = vapp.targets[ART_CAPSULE].release
    with dropped(vapp) as client:
        status = client.launch(spec(parameters=["75", "1", "HS25"], version=2))
    assert status.extra["recovered"] is True
    assert vapp.created == [status.ref.id]
    assert ("GET", f"capsules/{release}/computations") in vapp.requests
    with make_client(vapp) as fresh:  # tracked though its capsule's listing lacks it
        assert fresh.statuses([status.ref])[0].ref == status.ref


def test_a_pipeline_id_given_as_capsule_id_is_found(vapp: CodeOceanEmulator) -> None:
    with dropped(vapp) as client:
        status = client.launch(spec(PIPELINE))  # kind defaults to capsule
    assert status.extra["recovered"] is True
    assert vapp.created == [status.ref.id]
    assert ("GET", f"pipelines/{PIPELINE}/computations") in vapp.requests


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(404, json={"message": "capsule not found"}),
        httpx.Response(200, json={"items": []}),
        httpx.Response(500, json={"message": "listing failed"}),
    ],
    ids=["404", "not-a-list", "500"],
)
def test_an_unreadable_listing_needs_a_look_and_is_never_posted_again(
    app: CodeOceanEmulator, answer: httpx.Response
) -> None:
    with dropped(Answering(app, answer)) as client, pytest.raises(UnsettledLaunch) as caught:
        client.launch(spec(parameters=["75"]))
    assert not isinstance(caught.value, NotFound)
    assert app.requests.count(POSTS) == 1
    assert len(app.created) == 1  # the run the lost answer was about
    assert "needs a look" in str(caught.value)
    assert "not sent it again" in str(caught.value) or "did not send it again" in str(caught.value)


def test_two_different_matching_runs_need_a_look(app: CodeOceanEmulator) -> None:
    with make_client(app) as someone_else:  # ours plus a value: it matches too
        theirs = someone_else.launch(spec(parameters=["75", "2"])).ref.id
    with dropped(app) as client, pytest.raises(UnsettledLaunch) as caught:
        client.launch(spec(parameters=["75"]))
    mine = app.created[1]
    assert sorted(caught.value.candidates) == sorted([theirs, mine])
    assert app.requests.count(POSTS) == 2  # theirs, and mine once
    assert f"runhub status codeocean:{theirs}" in str(caught.value)


def test_an_identical_run_of_another_owner_needs_a_look(app: CodeOceanEmulator) -> None:
    with make_client(app) as someone_else:
        theirs = someone_else.launch(spec(parameters=["75"])).ref.id
    app.force(theirs, owner="someone-else")
    with dropped(app) as client, pytest.raises(UnsettledLaunch):
        client.launch(spec(parameters=["75"]))
    assert app.requests.count(POSTS) == 2


def test_identical_crashed_rows_pair_off_with_identical_runs(
    app: CodeOceanEmulator, tmp_path: Path
) -> None:
    """Replicates (rows identical in all that is sent) killed mid-launch: nothing
    tells their runs apart, so each row takes one, and none is sent again."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    wanted = spec(parameters=["75"])
    for row in ("r1", "r2"):
        record = ledger.intent("codeocean", wanted.digest(), batch="b", row_key=row, name=None)
        ledger.attempt(record.key)
    with make_client(app) as crashed:  # both POSTs reached Code Ocean before the kill
        crashed.launch(wanted)
        crashed.launch(wanted)
    with Client(
        settings={"codeocean": {"url": URL, "api_token": DEFAULT_TOKEN}},
        transport=mock_transport(app),
        policy=FAST,
        plugins=plugins(),
        ledger=ledger,
    ) as client:
        got = [client.launch(wanted, "codeocean", batch="b", row_key=r) for r in ("r1", "r2")]
    assert sorted(s.ref.id for s in got) == sorted(app.created)
    assert app.requests.count(POSTS) == 2


def test_a_match_while_an_identical_launch_awaits_its_answer_needs_a_look(
    backend: CodeOceanBackend, app: CodeOceanEmulator
) -> None:
    """Driven by hand (sans-IO): G's POST is out and unanswered when A's answer is
    lost; G's run, listed already, must not be taken for A's."""
    from runhub.errors import AmbiguousLaunch

    wanted = spec(parameters=["75"])
    g = backend.launch(wanted, "k-g")
    app.handle(next(g))  # G's run is created; its answer has not arrived
    a = backend.launch(wanted, "k-a")
    next(a)  # A's POST is lost before reaching Code Ocean
    listing = a.throw(AmbiguousLaunch("dropped"))
    assert listing.url.path.endswith(f"capsules/{ART_CAPSULE}/computations")
    with pytest.raises(UnsettledLaunch, match="still waiting for its answer"):
        a.send(app.handle(listing))
    assert len(app.created) == 1


async def test_a_row_that_needs_a_look_leaves_the_rest_of_the_batch_alone(
    app: CodeOceanEmulator,
) -> None:
    faults = FaultPlan(only=["POST /api/v1/computations"])
    faults.push("drop-after")
    broken = Answering(app, httpx.Response(500, json={"message": "listing failed"}))
    async with AsyncClient(
        settings={"codeocean": {"url": URL, "api_token": DEFAULT_TOKEN}},
        transport=mock_transport(broken, faults),
        policy=FAST,
        plugins=plugins(),
    ) as client:
        specs = [spec(parameters=[str(n)]) for n in (75, 100, 150)]
        outcomes = await client.launch_many(
            specs, "codeocean", concurrency=1, return_exceptions=True
        )
    assert isinstance(outcomes[0], UnsettledLaunch)
    assert [o.state for o in outcomes[1:] if not isinstance(o, Exception)] == [
        RunState.INITIALIZING,
        RunState.INITIALIZING,
    ]
    assert len(app.created) == 3  # one run per row, the unsettled one included


def test_a_crashed_launch_that_cannot_be_settled_stays_attempted(
    app: CodeOceanEmulator, tmp_path: Path
) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    wanted = spec(parameters=["75"])
    record = ledger.intent("codeocean", wanted.digest(), batch="b", row_key="r", name=None)
    ledger.attempt(record.key)
    with make_client(app) as others:  # two runs that match, and differ: which was it?
        others.launch(wanted)
        others.launch(spec(parameters=["75", "2"]))
    with (
        Client(
            settings={"codeocean": {"url": URL, "api_token": DEFAULT_TOKEN}},
            transport=mock_transport(app),
            policy=FAST,
            plugins=plugins(),
            ledger=ledger,
        ) as client,
        pytest.raises(UnsettledLaunch),
    ):
        client.launch(wanted, "codeocean", batch="b", row_key="r")
    assert app.requests.count(POSTS) == 2  # nothing sent for the row
    row = ledger.batch("b")[0]
    assert (row.ref, row.error, row.attempted_at is not None) == (None, None, True)


# -- 4. 500/503 to a launch is ambiguous: looked up before any second POST -----------


@pytest.mark.parametrize("status", [500, 503])
def test_a_server_error_after_the_run_was_created_recovers_it(
    vapp: CodeOceanEmulator, status: int
) -> None:
    vapp.after_create.append(status)
    with make_client(vapp) as client:
        launched = client.launch(spec(parameters=["75", "1", "HS25"], name="s-1"))
    assert launched.extra["recovered"] is True
    assert vapp.created == [launched.ref.id]
    assert vapp.requests.count(POSTS) == 1
    assert vapp.runs[launched.ref.id].name == "s-1"


def test_a_503_before_the_run_was_created_launches_once_more(app: CodeOceanEmulator) -> None:
    with dropped(app, "503") as client:
        launched = client.launch(spec(parameters=["75"]))
    assert app.created == [launched.ref.id]
    assert ("GET", f"capsules/{ART_CAPSULE}/computations") in app.requests


# -- 5. one run deleted elsewhere never breaks a batch -------------------------------


@pytest.mark.parametrize("known", [True, False], ids=["listed", "asked-by-id"])
def test_a_run_deleted_elsewhere_is_cancelled_and_the_rest_keep_their_status(
    app: CodeOceanEmulator, known: bool
) -> None:
    with make_client(app) as client:
        refs = [client.launch(spec(parameters=[str(n)])).ref for n in (1, 2, 3)]
    finish(app)
    del app.runs[refs[1].id]  # deleted in the Code Ocean UI
    with make_client(app) as client:
        if known:
            backend = client.backend("codeocean")
            assert isinstance(backend, CodeOceanBackend)
            for ref in refs:
                backend.learn(ref, spec())
        got = client.statuses(refs)
    assert [s.state for s in got] == [RunState.SUCCEEDED, RunState.CANCELLED, RunState.SUCCEEDED]
    assert got[1].native == "deleted"
    assert got[1].message is not None
    assert "no longer exists" in got[1].message


def test_an_id_runhub_never_knew_stays_not_found(app: CodeOceanEmulator) -> None:
    with make_client(app) as client:
        known = client.launch(spec()).ref
    with make_client(app) as fresh, pytest.raises(NotFound):  # a pasted, mistyped id
        fresh.statuses([known, RunRef("codeocean", "0000-typo")])


async def test_watch_ends_when_a_run_is_deleted_elsewhere(app: CodeOceanEmulator) -> None:
    async with AsyncClient(
        settings={"codeocean": {"url": URL, "api_token": DEFAULT_TOKEN}},
        transport=mock_transport(app),
        policy=FAST,
        plugins=plugins(),
    ) as client:
        runs = await client.launch_many([spec(parameters=[str(n)]) for n in (1, 2)], "codeocean")
        del app.runs[runs[0].ref.id]
        finish(app)
        final = {}
        async for status in client.watch([r.ref for r in runs], poll=POLL):
            final[status.ref] = status.state
    assert final == {runs[0].ref: RunState.CANCELLED, runs[1].ref: RunState.SUCCEEDED}


# -- 6. smaller ------------------------------------------------------------------------


def test_the_results_walk_warns_and_lists_the_folders_it_did_not_walk(
    client: Client,
    app: CodeOceanEmulator,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(CodeOceanBackend, "max_folders", 2)
    ref = client.launch(spec()).ref
    finish(app)
    with caplog.at_level(logging.WARNING, "runhub.codeocean"):
        outputs = client.outputs(ref)
    assert ("logs/nextflow", "folder") in {(o.path, o.kind) for o in outputs}
    assert "logs/nextflow/trace.tsv" not in {o.path for o in outputs}
    assert any("stopped listing results after 2 folders" in r.message for r in caplog.records)


@pytest.mark.parametrize("text", ["codeocean:.", "codeocean:.."])
def test_dot_run_ids_are_refused_before_any_request(
    client: Client, app: CodeOceanEmulator, text: str
) -> None:
    with pytest.raises(SpecError, match="not a Code Ocean run reference"):
        client.status(text)
    with pytest.raises(SpecError):
        client.outputs(text)
    assert app.requests == []


def test_result_paths_with_url_characters_stay_inside_the_query(app: CodeOceanEmulator) -> None:
    odd = "odd/sample #1?.txt&x=y"
    app.result_files[odd] = 7
    seen: list[httpx.Request] = []

    class Spy:
        def handle(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return app.handle(request)

    with make_client(Spy()) as client:
        ref = client.launch(spec()).ref
        finish(app)
        outputs = [o for o in client.outputs(ref) if o.path == odd]
        with_url = client.download_urls(ref, outputs)
    asked = [r for r in seen if r.url.path.endswith("/results/urls")]
    assert [r.url.path for r in asked] == [f"/api/v1/computations/{ref.id}/results/urls"]
    assert asked[0].url.params["path"] == odd
    url = with_url[0].url
    assert url is not None
    assert app.handle(httpx.Request("GET", url)).content == b"x" * 7


def test_rate_limited_keeps_the_platform_message(app: CodeOceanEmulator) -> None:
    busy = Answering(
        app, httpx.Response(429, json={"message": "The Computation API is overloaded"})
    )
    with make_client(busy) as client:
        ref = client.launch(spec()).ref
        with pytest.raises(RateLimited, match="The Computation API is overloaded"):
            client.statuses([ref])


def test_booleans_are_sent_as_true_false_and_quoted_strings_verbatim(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        f"pipeline: {QC_CAPSULE}\n"
        'parameters: {adapter_trimming: true, mode: "True", threads: "007", NumFiles: "yes"}\n'
    )
    backend = CodeOceanBackend(CodeOceanBackend.settings_model())
    from runhub_codeocean.translate import translate

    sent = translate(RunSpec.from_file(path)).body["named_parameters"]
    assert [p["value"] for p in sent] == ["true", "True", "007", "yes"]
    assert backend.capabilities.named_parameters
