"""Ambiguous launches: a dropped POST computations never yields two runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from runhub_codeocean.emulator import CodeOceanEmulator
from runhub_codeocean.errors import UnsettledLaunch
from runhub_codeocean.matching import Verdict, assets_verdict, params_verdict, sort_out

from runhub.client import AsyncClient, Client
from runhub.errors import AmbiguousLaunch, NotYetListed
from runhub.ledger import Ledger
from runhub.spec import RunSpec
from runhub.testing.emulator import FaultPlan, mock_transport

from .conftest import (
    ART_CAPSULE,
    DEFAULT_TOKEN,
    FAST,
    FASTQ_ASSET,
    QC_CAPSULE,
    REFERENCE_ASSET,
    SETTLE,
    URL,
    make_client,
    pipeline_spec,
    plugins,
    spec,
)

POSTS = ("POST", "computations")


def test_drop_after_create_yields_exactly_one_run(app: CodeOceanEmulator) -> None:
    faults = FaultPlan()
    faults.push("drop-after")
    with make_client(app, faults) as client:
        status = client.launch(
            spec(
                QC_CAPSULE, parameters={"mode": "fast"}, mounts=[{"source": FASTQ_ASSET}], name="s1"
            )
        )
    assert faults.counts["drop-after"] == 1
    assert app.created == [status.ref.id]
    assert app.requests.count(POSTS) == 1
    assert status.extra["recovered"] is True
    assert app.runs[status.ref.id].name == "s1"  # still renamed


@pytest.mark.parametrize("kind", ["drop-before", "502", "504"])
def test_no_run_created_launches_once_more(app: CodeOceanEmulator, kind: str) -> None:
    faults = FaultPlan()
    faults.push(kind)
    with make_client(app, faults) as client:
        status = client.launch(spec(parameters=["75"]))
    assert faults.counts[kind] == 1
    assert app.created == [status.ref.id]
    assert app.requests.count(POSTS) == 1  # the dropped one never reached the app
    assert ("GET", f"capsules/{ART_CAPSULE}/computations") in app.requests
    assert "recovered" not in status.extra


def test_a_run_listed_only_after_the_lookup_is_adopted_not_launched_again(
    app: CodeOceanEmulator,
) -> None:
    """The answer is lost and the platform creates the run later (a request still
    queued when the client gave up): the first lookup finds nothing, and runhub
    waits for the listing to settle and looks again instead of sending a second
    POST."""
    faults = FaultPlan(late_seconds=SETTLE / 3, only=["POST /api/v1/computations"])
    faults.push("late")
    with make_client(app, faults) as client:
        status = client.launch(spec(parameters=["75"]), batch="b", row_key="row-1")
    assert faults.counts["late"] == 1
    assert app.created == [status.ref.id]
    assert status.extra["recovered"] is True
    assert app.requests.count(POSTS) == 1


def test_without_a_ledger_a_run_not_listed_yet_is_left_ambiguous(
    app: CodeOceanEmulator,
) -> None:
    faults = FaultPlan(late_seconds=SETTLE / 3, only=["POST /api/v1/computations"])
    faults.push("late")
    with Client(
        settings={"codeocean": {"url": URL, "api_token": DEFAULT_TOKEN}},
        transport=mock_transport(app, faults),
        policy=FAST,
        plugins=plugins(),
        ledger=False,
    ) as client:
        with pytest.raises(NotYetListed, match="not sent again before the listing has settled"):
            client.launch(spec(parameters=["75"]))
        time.sleep(SETTLE)
    assert len(app.created) == 1  # the late request made its run; nothing else was sent
    assert app.requests.count(POSTS) == 1


def test_recovery_never_claims_an_earlier_launch(app: CodeOceanEmulator) -> None:
    faults = FaultPlan()
    with make_client(app, faults) as client:
        first = client.launch(spec(parameters=["75"]))
        faults.push("drop-after")
        second = client.launch(spec(parameters=["75"]))
    assert first.ref != second.ref
    assert app.created == [first.ref.id, second.ref.id]


def test_recovery_ignores_runs_with_other_parameters(app: CodeOceanEmulator) -> None:
    faults = FaultPlan()
    with make_client(app, faults) as other:  # someone else's run, same capsule, other values
        other.launch(spec(parameters=["100"]))
    faults.push("drop-before")
    with make_client(app, faults) as client:
        mine = client.launch(spec(parameters=["75"]))
    assert len(app.created) == 2
    assert app.runs[mine.ref.id].parameters == [{"name": "Read length", "value": "75"}]


def test_pipeline_drop_after_is_found_by_pipeline_listing(app: CodeOceanEmulator) -> None:
    faults = FaultPlan()
    faults.push("drop-after")
    with make_client(app, faults) as client:
        status = client.launch(pipeline_spec(processes={"capsule_fastq_qc_2": {"mode": "x"}}))
    assert app.created == [status.ref.id]
    assert ("GET", f"pipelines/{pipeline_spec().pipeline}/computations") in app.requests


def test_gives_up_after_repeated_ambiguous_failures(app: CodeOceanEmulator) -> None:
    faults = FaultPlan(only=["POST /api/v1/computations"])
    faults.push("drop-before", "drop-before", "drop-before")
    with make_client(app, faults) as client, pytest.raises(AmbiguousLaunch):
        client.launch(spec())
    assert app.created == []


async def test_concurrent_identical_launches_with_drops_never_share_or_double_a_run() -> None:
    """Identical launches cannot be told apart by their runs: a dropped one either
    finds exactly one unclaimed match, or needs a look (never a guess, never a
    second POST for a run that may exist)."""
    app = CodeOceanEmulator()
    faults = FaultPlan(
        0.3, ["drop-after", "drop-before"], seed=7, only=["POST /api/v1/computations"]
    )
    async with AsyncClient(
        settings={"codeocean": {"url": URL, "api_token": DEFAULT_TOKEN}},
        transport=mock_transport(app, faults),
        policy=FAST,
        plugins=plugins(),
    ) as client:
        specs = [spec(parameters=["75", "1", "HS25"]) for _ in range(12)]
        outcomes = await client.launch_many(
            specs, "codeocean", concurrency=4, return_exceptions=True
        )
    ids = [o.ref.id for o in outcomes if not isinstance(o, Exception)]
    unsettled = [o for o in outcomes if isinstance(o, UnsettledLaunch)]
    assert len(ids) + len(unsettled) == 12  # nothing else went wrong
    assert len(set(ids)) == len(ids)  # no run given to two rows
    orphans = set(app.created) - set(ids)
    # every run no row holds is named as a candidate of a row that needs a look,
    # and no such row made more than one run
    assert orphans <= {c for u in unsettled for c in u.candidates}
    assert len(app.created) <= 12
    assert faults.counts  # some drops really happened


def test_matching_rules() -> None:
    sent_assets = [{"id": REFERENCE_ASSET, "mount": "ref"}, {"id": FASTQ_ASSET}]
    body = {"parameters": ["75", "1"], "data_assets": sent_assets}
    reported = [{"name": "a", "value": "75"}, {"name": "b", "value": "1"}, {"value": "HS25"}]
    assert params_verdict(body, reported) is Verdict.MATCH  # server defaults after ours
    assert params_verdict(body, [{"value": "1"}, {"value": "75"}]) is Verdict.MISMATCH
    named = {"named_parameters": [{"param_name": "x", "value": "1"}]}
    assert params_verdict(named, None) is Verdict.UNSURE  # sent, not reported: cannot tell
    assets = [{"id": FASTQ_ASSET, "mount": "fastqs"}, {"id": REFERENCE_ASSET, "mount": "/ref"}]
    assert assets_verdict(sent_assets, assets, mounts=True) is Verdict.MATCH
    assert assets_verdict(sent_assets, assets[:1], mounts=True) is Verdict.MISMATCH
    moved = [assets[0], {"id": REFERENCE_ASSET, "mount": "x"}]
    assert assets_verdict(sent_assets, moved, mounts=True) is Verdict.MISMATCH
    # A pipeline mounts an asset where the one it replaces was attached (docs).
    assert assets_verdict(sent_assets, moved, mounts=False) is Verdict.MATCH
    listing = [
        {"id": "old", "created": 100, "parameters": reported, "data_assets": assets},
        {"id": "taken", "created": 200, "parameters": reported, "data_assets": assets},
        {"id": "new", "created": 300, "parameters": reported, "data_assets": assets},
    ]
    found = sort_out(body, listing, since=150, claimed={"taken"})
    assert [c["id"] for c in found.matches] == ["new"]
    assert not found.unsure
    assert sort_out(body, listing, since=400, claimed=set()).ids == []
    assert sort_out(body, listing, since=0, claimed=set()).ids == ["old", "taken", "new"]


def _crashed_attempt(ledger: Ledger, row: str, spec_: RunSpec) -> None:
    """The ledger saw the attempt start; the process died before recording an answer."""
    record = ledger.intent("codeocean", spec_.digest(), batch="b", row_key=row, name=spec_.name)
    ledger.attempt(record.key)


def test_crash_after_create_is_recovered_from_the_ledger(
    app: CodeOceanEmulator, tmp_path: Path
) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    wanted = spec(QC_CAPSULE, parameters={"mode": "fast"}, name="row-1-run")
    _crashed_attempt(ledger, "row-1", wanted)
    with make_client(app) as crashed:  # its POST reached Code Ocean before the crash
        created = crashed.launch(spec(QC_CAPSULE, parameters={"mode": "fast"}))
    with Client(
        settings={"codeocean": {"url": URL, "api_token": DEFAULT_TOKEN}},
        transport=mock_transport(app),
        policy=FAST,
        plugins=plugins(),
        ledger=ledger,
    ) as client:
        again = client.launch(wanted, "codeocean", batch="b", row_key="row-1")
    assert again.ref == created.ref
    assert again.extra["recovered"] is True
    assert app.created == [created.ref.id]
    assert app.runs[created.ref.id].name == "row-1-run"  # named, though the crash came first
    assert [r.ref for r in ledger.batch("b")] == [str(created.ref)]


def test_crash_before_create_launches_and_skips_claimed_runs(
    app: CodeOceanEmulator, tmp_path: Path
) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    same = spec(parameters=["75"])
    with Client(
        settings={"codeocean": {"url": URL, "api_token": DEFAULT_TOKEN}},
        transport=mock_transport(app),
        policy=FAST,
        plugins=plugins(),
        ledger=ledger,
    ) as client:
        first = client.launch(same, "codeocean", batch="b", row_key="row-0")
        _crashed_attempt(ledger, "row-1", same)  # crashed before its POST went out
    with Client(
        settings={"codeocean": {"url": URL, "api_token": DEFAULT_TOKEN}},
        transport=mock_transport(app),
        policy=FAST,
        plugins=plugins(),
        ledger=ledger,
    ) as fresh:  # a new process: only the ledger knows row-0's run is taken
        second = fresh.launch(same, "codeocean", batch="b", row_key="row-1")
    assert second.ref != first.ref
    assert "recovered" not in second.extra
    assert len(app.created) == 2
