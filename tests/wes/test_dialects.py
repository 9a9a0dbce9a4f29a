"""The WES dialect differences of anchors.md §1.4, each shown on the real server that
has it, and handled: ``workflows`` vs ``runs``, 200 for an unknown run id, sapporo's
extra states. ``RunLog.outputs`` as an object (wes-service) or a list (sapporo) is
shown in test_end_to_end.py."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

pytest.importorskip("runhub_wes", reason="runhub-wes is not installed (pip install -e plugins/wes)")

from runhub.backend import RunRef
from runhub.client import Client, PollSchedule
from runhub.errors import NotFound, PlatformError
from runhub.spec import RunSpec
from runhub.state import RunState

from .conftest import EXAMPLES
from .servers import WesServer

FAST = PollSchedule(initial=0.1, cap=0.3, jitter=0.0)
ECHO = RunSpec(pipeline=(EXAMPLES / "echo.cwl").as_uri(), parameters={"message": "dialect"})


def _sent(client: Client) -> int:
    return int(client.driver(client.backend("wes")).sent)  # type: ignore[union-attr]


def test_the_run_list_key_differs_and_batch_status_reads_either(
    client: Client, server: WesServer
) -> None:
    refs = [client.launch(ECHO, "wes").ref for _ in range(2)]
    raw = httpx.get(f"{server.url}/runs", params={"page_size": 100}).json()
    expected = "workflows" if server.kind == "wes-service" else "runs"
    assert expected in raw, raw  # the dialect itself, as the server speaks it
    assert ("runs" in raw) != ("workflows" in raw)
    before = _sent(client)
    answers = client.statuses(list(reversed(refs)))
    assert [a.ref for a in answers] == list(reversed(refs))
    # sapporo says UNKNOWN for a run whose run.sh has not started yet
    live = ("UNKNOWN", "QUEUED", "INITIALIZING", "RUNNING", "COMPLETE")
    assert all(a.native in live for a in answers), answers
    # one page of GET /runs for both (plus a run log for any that had finished)
    listed = _sent(client) - before - sum(a.is_terminal for a in answers)
    assert listed == 1
    for ref in refs:
        client.wait(ref, timeout=60, poll=FAST)


def test_wes_service_answers_200_running_for_a_run_id_it_never_issued(
    wes_service: WesServer,
) -> None:
    made_up = uuid.uuid4().hex
    raw = httpx.get(f"{wes_service.url}/runs/{made_up}/status")
    assert (raw.status_code, raw.json()["state"]) == (200, "RUNNING")  # the server's bug
    with Client(settings={"wes": wes_service.settings()}) as client:
        with pytest.raises(PlatformError) as err:
            client.status(f"wes:{made_up}")
        assert "run id they do not know" in str(err.value)
        real = client.launch(ECHO, "wes").ref
        with pytest.raises(PlatformError):
            client.statuses([real, RunRef("wes", made_up)])  # never "RUNNING" for it
        # a run this client did not launch is read through its run log first: it exists
    with Client(settings={"wes": wes_service.settings()}) as fresh:
        assert fresh.wait(real, timeout=60, poll=FAST).state is RunState.SUCCEEDED


def test_sapporo_answers_404_for_an_unknown_run(sapporo: WesServer) -> None:
    with Client(settings={"wes": sapporo.settings()}) as client, pytest.raises(NotFound):
        client.status(f"wes:{uuid.uuid4()}")


def test_sapporo_deleted_runs_are_unknown_with_the_reason(sapporo: WesServer) -> None:
    with Client(settings={"wes": sapporo.settings()}) as client:
        ref = client.launch(ECHO, "wes").ref
        assert client.wait(ref, timeout=60, poll=FAST).state is RunState.SUCCEEDED
        # DELETE /runs/{id} is a sapporo extension: the run stays listed, as DELETED
        assert httpx.delete(f"{sapporo.url}/runs/{ref.id}").status_code == 200
        deadline = time.monotonic() + 30
        while httpx.get(f"{sapporo.url}/runs/{ref.id}/status").json()["state"] != "DELETED":
            assert time.monotonic() < deadline, "sapporo never finished deleting"
            time.sleep(0.1)
        status = client.status(ref)
        assert (status.state, status.native) == (RunState.UNKNOWN, "DELETED")
        assert "deleted on the server" in (status.message or "")
        assert client.outputs(ref) == []
    with Client(settings={"wes": sapporo.settings()}) as fresh:  # through its run log
        assert fresh.status(ref).native == "DELETED"
