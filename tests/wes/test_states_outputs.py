"""The WES state map (DESIGN.md §4), ``RunLog.outputs`` in each server's shape, and
``GET /runs`` pages in each dialect: pure functions, no HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

pytest.importorskip("runhub_wes", reason="runhub-wes is not installed (pip install -e plugins/wes)")

from runhub_wes.backend import WesBackend
from runhub_wes.listing import Listing, list_runs
from runhub_wes.outputs import parse_outputs
from runhub_wes.settings import WesSettings
from runhub_wes.states import to_status

from runhub.backend import RunRef
from runhub.errors import PlatformError
from runhub.state import RunState

REF = RunRef("wes", "r1")


@pytest.mark.parametrize(
    ("native", "state"),
    [
        ("UNKNOWN", RunState.UNKNOWN),
        ("QUEUED", RunState.QUEUED),
        ("INITIALIZING", RunState.INITIALIZING),
        ("RUNNING", RunState.RUNNING),
        ("PAUSED", RunState.RUNNING),
        ("COMPLETE", RunState.SUCCEEDED),
        ("EXECUTOR_ERROR", RunState.FAILED),
        ("SYSTEM_ERROR", RunState.FAILED),
        ("CANCELED", RunState.CANCELLED),
        ("CANCELING", RunState.CANCELLING),
        ("PREEMPTED", RunState.FAILED),
        # sapporo 2.x extensions: the outcome is no longer kept
        ("DELETING", RunState.UNKNOWN),
        ("DELETED", RunState.UNKNOWN),
        # anything else, and other spellings
        ("running", RunState.UNKNOWN),
        ("SOMETHING_NEW", RunState.UNKNOWN),
    ],
)
def test_every_wes_state_maps_and_the_native_text_is_kept(native: str, state: RunState) -> None:
    status = to_status(REF, {"run_id": "r1", "state": native})
    assert status.state is state
    assert status.native == native
    assert WesBackend(WesSettings()).state_of(native) is state


def test_states_whose_name_does_not_say_everything_carry_a_message() -> None:
    for native, phrase in [
        ("PREEMPTED", "preempted"),
        ("SYSTEM_ERROR", "system error"),
        ("PAUSED", "paused"),
        ("DELETED", "deleted on the server"),
        ("DELETING", "deleting"),
    ]:
        assert phrase in (to_status(REF, {"state": native}).message or "")


def test_a_missing_or_odd_state_is_unknown_and_never_raises() -> None:
    for body in ({}, {"state": None}, {"state": 7}, {"state": ["RUNNING"]}):
        assert to_status(REF, body).state is RunState.UNKNOWN


def test_times_exit_code_and_name_come_from_the_run_log() -> None:
    body = {
        "state": "EXECUTOR_ERROR",
        "request": {"tags": {"runhub_name": "sample-A"}},
        "run_log": {"start_time": "2026-12-01T20:47:28Z", "end_time": "2026-12-01T20:47:29",
                    "exit_code": 1},
    }  # fmt: skip
    status = to_status(REF, body)
    assert status.exit_code == 1
    assert status.name == "sample-A"
    assert status.started is not None
    assert status.ended is not None
    assert status.started.isoformat() == "2026-12-01T20:47:28+00:00"
    assert status.ended.isoformat() == "2026-12-01T20:47:29+00:00"  # no zone: UTC
    # wes-service: empty times, and exit code -1 while still running
    running = to_status(REF, {"state": "RUNNING", "run_log": {"start_time": "", "exit_code": -1}})
    assert (running.started, running.exit_code) == (None, None)


def test_cwl_output_objects_become_files_and_folders() -> None:
    outputs = {
        "out": {"class": "File", "location": "file:///srv/runs/1/out.txt", "basename": "out.txt",
                "size": 3},
        "many": [
            {"class": "File", "location": "https://wes.test/f/a.bam", "size": 10,
             "secondaryFiles": [{"class": "File", "location": "https://wes.test/f/a.bam.bai"}]},
            {"class": "File", "location": "s3://bucket/b.bam"},
        ],
        "dir": {"class": "Directory", "basename": "qc", "listing": [
            {"class": "File", "location": "file:///srv/runs/1/qc/report.html",
             "basename": "report.html"}]},
        "count": 42,
        "word": "not a file",
        "record": {"summary": {"class": "File", "location": "file:///srv/x/out.txt"}},
    }  # fmt: skip
    found = parse_outputs(outputs, loopback=True)
    table = [(o.path, o.kind, o.size, o.url) for o in found]
    assert table == [
        ("out.txt", "file", 3, "file:///srv/runs/1/out.txt"),
        ("a.bam", "file", 10, "https://wes.test/f/a.bam"),
        ("a.bam.bai", "file", None, "https://wes.test/f/a.bam.bai"),
        ("b.bam", "file", None, None),  # s3: not fetchable from here
        ("qc", "folder", None, None),
        ("qc/report.html", "file", None, "file:///srv/runs/1/qc/report.html"),
        ("out-2.txt", "file", None, "file:///srv/x/out.txt"),  # same name: both kept
    ]
    assert [o.id for o in found][:2] == ["out", "many"]


def test_file_locations_of_a_remote_server_are_not_downloadable_here() -> None:
    outputs = {"out": {"class": "File", "location": "file:///srv/out.txt"}}
    assert parse_outputs(outputs, loopback=False)[0].url is None
    assert parse_outputs(outputs, loopback=True)[0].url == "file:///srv/out.txt"


def test_sapporo_lists_outputs_as_file_name_and_file_url() -> None:
    outputs = [
        {"file_name": "out.txt", "file_url": "http://127.0.0.1:1122/runs/r1/outputs/out.txt"},
        {"file_name": "sub/x.txt", "file_url": "http://127.0.0.1:1122/runs/r1/outputs/sub/x.txt"},
        {"file_url": "no name"},
    ]
    found = parse_outputs(outputs, loopback=True)
    assert [(o.path, o.url) for o in found] == [
        ("out.txt", "http://127.0.0.1:1122/runs/r1/outputs/out.txt"),
        ("sub/x.txt", "http://127.0.0.1:1122/runs/r1/outputs/sub/x.txt"),
    ]


def test_wdl_outputs_are_text_paths_and_no_outputs_is_empty() -> None:
    found = parse_outputs({"w.out": "/cromwell/w/out.vcf", "w.n": 3}, loopback=True)
    assert [(o.path, o.url) for o in found] == [("out.vcf", "file:///cromwell/w/out.vcf")]
    assert parse_outputs(None, loopback=True) == []
    assert parse_outputs({}, loopback=True) == []


def _pages(*bodies: dict[str, Any], max_pages: int = 10) -> tuple[Listing, list[httpx.Request]]:
    asked: list[httpx.Request] = []

    def get(params: dict[str, Any]) -> httpx.Request:
        req = httpx.Request("GET", "https://wes.test/runs", params=params)
        asked.append(req)
        return req

    exchange = list_runs(get, 2, max_pages=max_pages)
    request = next(exchange)
    try:
        for body in bodies:
            request = exchange.send(httpx.Response(200, json=body, request=request))
    except StopIteration as done:
        return done.value, asked
    raise AssertionError("the listing asked for more pages than given")


def test_the_spec_runs_key_is_paged_by_next_page_token() -> None:
    listing, asked = _pages(
        {"runs": [{"run_id": "a", "state": "QUEUED"}], "next_page_token": "t1"},
        {"runs": [{"run_id": "b", "state": "RUNNING"}], "next_page_token": ""},
    )
    assert [i["run_id"] for i in listing] == ["a", "b"]
    assert listing.complete
    assert [dict(r.url.params) for r in asked] == [
        {"page_size": "2"},
        {"page_size": "2", "page_token": "t1"},
    ]


def test_wes_service_and_toil_answer_with_workflows_and_sapporo_with_null_token() -> None:
    listing, _ = _pages(
        {"workflows": [{"run_id": "a", "state": "COMPLETE"}], "next_page_token": ""}
    )
    assert [i["run_id"] for i in listing] == ["a"]
    assert listing.complete
    listing, _ = _pages(
        {"runs": [{"run_id": "s", "state": "DELETED", "tags": {}}], "next_page_token": None,
         "total_runs": 1}
    )  # fmt: skip
    assert listing.complete


def test_a_server_repeating_its_token_is_not_followed_round_in_a_circle() -> None:
    page = {"runs": [{"run_id": "a", "state": "QUEUED"}], "next_page_token": "same"}
    listing, asked = _pages(page, page)
    assert not listing.complete
    assert len(asked) == 2


def test_the_page_budget_leaves_the_listing_incomplete() -> None:
    page = {"runs": [{"run_id": "a", "state": "QUEUED"}], "next_page_token": "more"}
    listing, asked = _pages(page, max_pages=1)
    assert (listing.complete, len(asked)) == (False, 1)


def test_a_page_with_neither_key_is_a_platform_error() -> None:
    with pytest.raises(PlatformError, match="without a list of runs"):
        _pages({"items": []})
