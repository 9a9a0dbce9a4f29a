"""A real CWL workflow through runhub on real WES servers: launch, wait, outputs,
download, logs, a mount attached as a file, cancel, and the CLI (launch and batch).

A failing run and the cancel of a sleeping one on both servers are in the
conformance suite (test_conformance.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

pytest.importorskip("runhub_wes", reason="runhub-wes is not installed (pip install -e plugins/wes)")

import runhub_wes

from runhub.cli import run as cli_run
from runhub.client import Client, PollSchedule
from runhub.spec import RunSpec
from runhub.state import RunState

from .conftest import EXAMPLES, ROOT, WORKFLOWS, workflow
from .servers import WesServer

FAST = PollSchedule(initial=0.1, cap=0.3, jitter=0.0)


@dataclass
class Result:
    code: int
    out: str
    err: str


def cli(*args: str) -> Result:
    runner = CliRunner()
    with runner.isolation() as (out, err, _):
        code = cli_run(list(args))
    return Result(code, out.getvalue().decode(), err.getvalue().decode())


def test_launch_wait_outputs_download_and_logs(
    client: Client, server: WesServer, tmp_path: Path
) -> None:
    spec = RunSpec(
        pipeline=(EXAMPLES / "echo.cwl").as_uri(),
        name="e2e",
        parameters={"message": "hello runhub"},
    )
    launched = client.launch(spec, "wes")
    done = client.wait(launched.ref, timeout=60, poll=FAST)
    assert done.state is RunState.SUCCEEDED, done
    assert done.native == "COMPLETE"
    assert done.exit_code == 0
    # RunLog.outputs: the CWL output object on wes-service, a file list on sapporo
    raw = httpx.get(f"{server.url}/runs/{done.ref.id}").json()["outputs"]
    assert isinstance(raw, dict if server.kind == "wes-service" else list), raw
    outputs = client.outputs(done.ref)
    assert [(o.path, o.kind) for o in outputs] == [("out.txt", "file")]
    # wes-service: a file:// location on this machine; sapporo: its download endpoint
    assert outputs[0].url is not None
    assert outputs[0].url.startswith("file://" if server.kind == "wes-service" else "http://")
    from runhub.cli.helpers.download import fetch_all

    with httpx.Client() as http:  # plain, as the CLI's downloads are
        fetched = fetch_all(
            client.download_urls(done.ref, outputs),
            tmp_path,
            http=http,
            allow_files=client.backend("wes").serves_local_files(),  # as the CLI asks
        )
    assert [f.action for f in fetched] == ["downloaded"]
    assert (tmp_path / "out.txt").read_text() == "hello runhub\n"
    logs = runhub_wes.logs(client, done.ref)  # both servers put the text, not a URL, here
    assert logs.exit_code == 0
    assert "Final process status is success" in (logs.stderr or "")
    assert logs.stderr_url is None
    info = runhub_wes.service_info(client)
    assert "v1.2" in (info.versions_of("CWL") or [])


def test_a_local_input_file_is_attached_and_read_by_the_workflow(
    client: Client, tmp_path: Path
) -> None:
    spec = RunSpec.from_data(
        {
            "pipeline": workflow("count.cwl"),
            "mounts": [{"source": (WORKFLOWS / "lines.txt").as_uri(), "input": "reads"}],
        }
    )
    done = client.wait(client.launch(spec, "wes").ref, timeout=60, poll=FAST)
    assert done.state is RunState.SUCCEEDED, done
    (count,) = client.outputs(done.ref)
    assert count.path == "count.txt"
    from runhub.cli.helpers.download import fetch_all

    with httpx.Client() as http:  # plain, as the CLI's downloads are
        fetch_all(
            [count], tmp_path, http=http, allow_files=client.backend("wes").serves_local_files()
        )
    assert (tmp_path / "count.txt").read_text().split()[0] == "3"


def test_cancel_stops_a_sleeping_workflow_on_sapporo(sapporo: WesServer) -> None:
    with Client(settings={"wes": sapporo.settings()}) as client:
        spec = RunSpec(pipeline=workflow("sleep.cwl"), parameters={"seconds": 30})
        launched = client.launch(spec, "wes")
        answer = client.cancel(launched.ref)
        # sapporo says UNKNOWN for a run whose run.sh has not started yet
        assert answer.state not in (RunState.SUCCEEDED, RunState.FAILED), answer
        done = client.wait(launched.ref, timeout=30, poll=FAST)
        assert done.state is RunState.CANCELLED
        assert done.native == "CANCELED"
        # a finished run is left alone: cancelling it again sends no cancel
        assert client.cancel(launched.ref).state is RunState.CANCELLED


def test_cli_launch_of_the_example_waits_and_lists_its_output(
    wes_service: WesServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in wes_service.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)
    done = cli("launch", "examples/wes/echo.yaml", "--backend", "wes", "--wait", "--poll", "0.2")
    assert done.code == 0, done.err
    lines = done.out.splitlines()
    assert lines[0].startswith("wes:")
    assert any("SUCCEEDED" in line for line in lines)
    assert any(line.startswith("out.txt") for line in lines), done.out
    ref = lines[0]
    # the core's logs/show contract (runhub logs, runhub show) on a real WES server
    stderr = cli("logs", ref, "--stderr", "-o", "json")
    assert stderr.code == 0, stderr.err
    log = json.loads(stderr.out)
    assert log["stream"] == "stderr"
    assert log["complete"] is True
    assert "Final process status is success" in log["text"]
    shown = cli("show", ref, "-o", "json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["platform"]["status"]["state"] == "SUCCEEDED"


def test_cli_batch_over_a_samplesheet(
    sapporo: WesServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in sapporo.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(ROOT)
    args = ("batch", "examples/wes/batch.yaml", "examples/wes/samples.csv", "--backend", "wes")
    done = cli(*args, "--wait", "--poll", "0.2", "-o", "json")
    assert done.code == 0, done.err
    report = json.loads(done.out)
    assert report["summary"] == {"SUCCEEDED": 3}
    assert [r["name"] for r in report["runs"]] == ["echo-A", "echo-B", "echo-C"]
    # the same command again re-attaches: no second run for any row
    again = json.loads(cli(*args, "-o", "json").out)
    assert [r["ref"] for r in again["runs"]] == [r["ref"] for r in report["runs"]]
    fetched = cli("outputs", "--batch", report["batch"], "--download", str(tmp_path), "-o", "json")
    assert fetched.code == 0, fetched.err
    texts = sorted(p.read_text() for p in tmp_path.rglob("out.txt"))
    assert texts == ["hello A\n", "hello B\n", "hello C\n"]
