"""launch, status, wait, cancel and outputs against the local backend."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]

REF = re.compile(r"^local:\S+$")
TIME = r"\d\d:\d\d:\d\dZ"  # UTC, like every time runhub shows
STATUS_KEYS = {
    "ref",
    "state",
    "native",
    "message",
    "name",
    "created",
    "started",
    "ended",
    "exit_code",
    "wes_state",
}
OUTPUT_KEYS = {"path", "size", "kind", "id"}


def launched(cli: Any, spec: Path, *extra: str) -> str:
    result = cli("launch", str(spec), *extra)
    assert result.code == 0, result.err
    assert len(result.lines) == 1, result.out
    assert REF.match(result.lines[0]), result.out
    return result.lines[0]


def test_launch_wait_on_the_hello_example_prints_ref_states_and_outputs(
    cli: Any, tmp_path: Path
) -> None:
    shutil.copytree(REPO / "examples" / "hello", tmp_path / "examples" / "hello")
    result = cli("launch", "examples/hello/runspec.yaml", "--wait")
    assert result.code == 0, result.err
    lines = result.lines
    assert REF.match(lines[0])
    changes = [line for line in lines[1:] if re.match(TIME, line)]
    assert changes, result.out
    assert re.match(rf"{TIME}  SUCCEEDED\b", changes[-1])
    table = lines[1 + len(changes) :]
    assert table[0].split() == ["PATH", "SIZE", "KIND"]
    assert table[1].split()[0] == "summary.tsv"
    assert result.err == ""


def test_launch_wait_follows_a_run_to_success_and_set_reaches_the_pipeline(
    cli: Any,
    ok_spec: Path,
) -> None:
    result = cli("launch", str(ok_spec), "--wait", "--set", "parameters=[runhub]")
    assert result.code == 0, result.err
    ref = result.lines[0]
    listed = cli("outputs", ref, "-o", "json").json()
    assert [o["path"] for o in listed] == ["hello.txt"]
    assert Path(listed[0]["id"]).read_text() == "hello runhub\n"


def test_launch_without_wait_prints_only_the_ref_and_wait_finishes_it(
    cli: Any, ok_spec: Path
) -> None:
    ref = launched(cli, ok_spec)
    result = cli("wait", ref, "--timeout", "30s")
    assert result.code == 0, result.err
    assert re.match(rf"{TIME}  SUCCEEDED\b", result.lines[-1])


def test_a_failed_run_exits_1_and_says_so(cli: Any, failing_spec: Path) -> None:
    result = cli("launch", str(failing_spec), "--wait")
    assert result.code == 1
    assert re.match(rf"{TIME}  FAILED\s+exit code 3", result.lines[-1]), result.out
    assert "ended FAILED" in result.err
    assert cli("wait", result.lines[0]).code == 1


def test_launch_wait_timeout_exits_124_and_leaves_the_run_running(
    cli: Any, slow_spec: Path
) -> None:
    result = cli("launch", str(slow_spec), "--wait", "--timeout", "0.3")
    result.fails(124, "left running", "runhub wait")
    ref = result.lines[0]
    assert cli("status", ref, "-o", "json").json()[0]["state"] in ("QUEUED", "RUNNING")
    assert cli("wait", ref, "--timeout", "0.2").code == 124
    assert cli("cancel", ref).code == 0


def test_cancel_stops_a_run_and_wait_reports_cancelled(cli: Any, slow_spec: Path) -> None:
    ref = launched(cli, slow_spec)
    cancelled = cli("cancel", ref, "-o", "json")
    assert cancelled.code == 0, cancelled.err
    assert cancelled.json()["state"] in ("CANCELLING", "CANCELLED")
    waited = cli("wait", ref, "-o", "json")
    assert waited.code == 1
    assert waited.json()["state"] == "CANCELLED"


def test_status_of_several_runs_as_a_table_and_as_json(
    cli: Any, ok_spec: Path, failing_spec: Path
) -> None:
    first, second = launched(cli, ok_spec, "--name", "one"), launched(cli, failing_spec)
    cli("wait", first)
    cli("wait", second)
    table = cli("status", first, second)
    assert table.code == 0
    assert table.lines[0].split()[:3] == ["REF", "STATE", "NATIVE"]
    assert [line.split()[:2] for line in table.lines[1:]] == [
        [first, "SUCCEEDED"],
        [second, "FAILED"],
    ]
    data = cli("status", first, second, "-o", "json").json()
    assert [set(d) for d in data] == [STATUS_KEYS, STATUS_KEYS]
    assert [(d["ref"], d["state"], d["wes_state"]) for d in data] == [
        (first, "SUCCEEDED", "COMPLETE"),
        (second, "FAILED", "EXECUTOR_ERROR"),
    ]
    assert data[0]["name"] == "one"
    assert data[1]["exit_code"] == 3


def test_json_shapes_of_launch_and_launch_wait(cli: Any, ok_spec: Path) -> None:
    started = cli("launch", str(ok_spec), "-o", "json")
    assert started.code == 0
    assert set(started.json()) == STATUS_KEYS
    finished = cli("launch", str(ok_spec), "--wait", "-o", "json")
    assert finished.code == 0, finished.err
    data = finished.json()
    assert set(data) == {"run", "outputs"}
    assert set(data["run"]) == STATUS_KEYS
    assert data["run"]["state"] == "SUCCEEDED"
    assert [set(o) for o in data["outputs"]] == [OUTPUT_KEYS]


def test_outputs_table_lists_files_with_sizes(cli: Any, ok_spec: Path) -> None:
    ref = cli("launch", str(ok_spec), "--wait").lines[0]
    result = cli("outputs", ref)
    assert result.code == 0
    assert result.lines == ["PATH       SIZE  KIND", "hello.txt  12 B  file"]


def test_dry_run_on_local_describes_the_command_and_launches_nothing(
    cli: Any, ok_spec: Path, home: Path
) -> None:
    result = cli("launch", str(ok_spec), "--dry-run", "--set", "parameters=[a b]")
    assert result.code == 0, result.err
    assert "nothing launched" in result.out
    assert re.search(r"command: \S+/greet/run 'a b'$", result.out, re.MULTILINE), result.out
    as_json = cli("launch", str(ok_spec), "--dry-run", "-o", "json").json()
    assert as_json["backend"] == "local"
    assert as_json["request"] is None
    assert as_json["description"]["command"][-1] == "world"
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


def test_spec_from_a_directory_and_from_stdin(cli: Any, tmp_path: Path, ok_spec: Path) -> None:
    (tmp_path / "greet" / "runspec.yaml").write_text("pipeline: greet\nparameters: [dir]\n")
    from_dir = cli("launch", "greet", "--wait", "-o", "json")
    assert from_dir.code == 0, from_dir.err
    from_stdin = cli("launch", "-", "--wait", "-o", "json", stdin="pipeline: greet\n")
    assert from_stdin.code == 0, from_stdin.err
    for result, word in ((from_dir, "dir"), (from_stdin, "nobody")):
        path = Path(result.json()["outputs"][0]["id"])
        assert path.read_text() == f"hello {word}\n"


def test_the_console_entry_point_runs_detached_from_stdin(
    cli: Any, script: Any, ok_spec: Path, tmp_path: Path
) -> None:
    done = script("launch", str(ok_spec), "--wait", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert REF.match(done.stdout.splitlines()[0])
    assert "hello.txt" in done.stdout


def test_ctrl_c_while_waiting_exits_130_and_the_run_keeps_going(
    cli: Any, slow_spec: Path, tmp_path: Path
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "runhub.cli", "launch", str(slow_spec), "--wait"],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ref = proc.stdout.readline().strip()
    assert REF.match(ref), ref
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert err.strip().splitlines() == [
        "runhub: error: interrupted (runs already launched keep running; see 'runhub status')"
    ]
    assert cli("status", ref, "-o", "json").json()[0]["state"] in ("QUEUED", "RUNNING")
    assert cli("cancel", ref).code == 0


def test_launches_are_recorded_in_the_ledger(cli: Any, ok_spec: Path, home: Path) -> None:
    from runhub.ledger import Ledger

    ref = launched(cli, ok_spec, "--name", "recorded")
    record = Ledger(home / "ledger.sqlite").by_ref(ref)
    assert record is not None
    assert (record.backend, record.name) == ("local", "recorded")
