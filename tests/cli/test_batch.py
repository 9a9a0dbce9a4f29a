"""``runhub batch`` on the local backend: templating, per-row errors, resume, JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runhub.ledger import Ledger

ROWS_KEYS = {"row", "name", "row_key", "attempt", "ref", "state", "error", "message"}


def sheet(tmp_path: Path, rows: list[str], header: str = "sample,greeting") -> Path:
    path = tmp_path / "samples.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def template(tmp_path: Path, ok_spec: Path) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text("pipeline: greet\nname: 'greet-{sample}'\nparameters: ['{greeting}']\n")
    return path


def run_dirs(home: Path) -> list[Path]:
    runs = home / "runs"
    return sorted(runs.iterdir()) if runs.is_dir() else []


def test_batch_waits_for_every_row_and_reports_json(
    cli: Any, tmp_path: Path, ok_spec: Path, home: Path
) -> None:
    samples = sheet(tmp_path, [f"s{i},hi{i}" for i in range(5)])
    done = cli(
        "batch",
        str(template(tmp_path, ok_spec)),
        str(samples),
        "--wait",
        "--poll",
        "0.05",
        "-o",
        "json",
    )
    assert done.code == 0, done.err
    data = done.json()
    assert set(data) == {"batch", "backend", "runs", "summary"}
    assert data["backend"] == "local"
    assert data["summary"] == {"SUCCEEDED": 5}
    assert [set(r) for r in data["runs"]] == [ROWS_KEYS] * 5
    assert [r["name"] for r in data["runs"]] == [f"greet-s{i}" for i in range(5)]
    assert [r["row"] for r in data["runs"]] == [2, 3, 4, 5, 6]
    outputs = [(d / "results" / "hello.txt").read_text() for d in run_dirs(home)]
    assert sorted(outputs) == [f"hello hi{i}\n" for i in range(5)]
    # the ledger knows the batch: runs --batch lists exactly these runs
    listed = cli("runs", "--batch", data["batch"], "-o", "json").json()
    assert sorted(r["ref"] for r in listed) == sorted(r["ref"] for r in data["runs"])


def test_running_the_same_batch_again_launches_nothing_new(
    cli: Any, tmp_path: Path, ok_spec: Path, home: Path
) -> None:
    samples = sheet(tmp_path, ["a,x", "b,y"])
    spec = str(template(tmp_path, ok_spec))
    first = cli("batch", spec, str(samples), "-q")
    assert first.code == 0, first.err
    assert len(run_dirs(home)) == 2
    # a row added to the samplesheet: only it is launched, the others re-attached
    samples.write_text(samples.read_text() + "c,z\n")
    second = cli("batch", spec, str(samples), "-q", "--wait", "--poll", "0.05")
    assert second.code == 0, second.err
    assert len(run_dirs(home)) == 3
    assert second.lines[:2] == first.lines


def test_samplesheet_problems_are_listed_per_row_and_nothing_launches(
    cli: Any, tmp_path: Path, ok_spec: Path, home: Path
) -> None:
    samples = sheet(tmp_path, ["a,x", "b,", "a,y", "c,z"])
    done = cli("batch", str(template(tmp_path, ok_spec)), str(samples))
    assert done.code == 2
    lines = done.err.strip().splitlines()
    assert lines[0].startswith("runhub: error: ")
    assert "2 problems" in lines[0]
    assert "nothing was launched" in lines[0]
    assert any("row 3" in line and "'greeting' is empty" in line for line in lines[1:])
    assert any("row 4" in line and "repeats row 2" in line for line in lines[1:])
    assert "Traceback" not in done.err
    assert run_dirs(home) == []
    assert Ledger(home / "ledger.sqlite").runs() == []


def test_placeholder_naming_no_column(cli: Any, tmp_path: Path, ok_spec: Path) -> None:
    samples = sheet(tmp_path, ["a,x"], header="id,greeting")
    done = cli("batch", str(template(tmp_path, ok_spec)), str(samples))
    assert done.code == 2
    assert "placeholder {sample} names no column" in done.err


def test_dry_run_checks_rows_and_launches_nothing(
    cli: Any, tmp_path: Path, ok_spec: Path, home: Path
) -> None:
    samples = sheet(tmp_path, ["a,x", "b,y"])
    done = cli("batch", str(template(tmp_path, ok_spec)), str(samples), "--dry-run", "-o", "yaml")
    assert done.code == 0, done.err
    assert "name: greet-a" in done.out
    assert "batch: b-" in done.out
    assert run_dirs(home) == []


def test_failed_rows_make_the_batch_exit_1(
    cli: Any, tmp_path: Path, ok_spec: Path, failing_spec: Path
) -> None:
    spec = tmp_path / "mixed.yaml"
    spec.write_text("pipeline: '{pipeline}'\nname: 'run-{pipeline}'\n")
    samples = sheet(tmp_path, ["greet", "broken"], header="pipeline")
    done = cli("batch", str(spec), str(samples), "--wait", "--poll", "0.05")
    assert done.code == 1
    assert "1 FAILED, 1 SUCCEEDED" in done.out
    rows = {
        line.split()[1]: line.split()[4]
        for line in done.lines
        if line[:1].isdigit() and len(line.split()) > 3 and line.split()[0] in ("2", "3")
    }
    assert rows == {"run-greet": "SUCCEEDED", "run-broken": "FAILED"}


def test_outputs_of_a_whole_batch_download_into_one_folder_per_run(
    cli: Any, tmp_path: Path, ok_spec: Path
) -> None:
    samples = sheet(tmp_path, ["a,x", "b,y"])
    ran = cli(
        "batch",
        str(template(tmp_path, ok_spec)),
        str(samples),
        "--wait",
        "--poll",
        "0.05",
        "-o",
        "json",
    ).json()
    target = tmp_path / "dl"
    got = cli("outputs", "--batch", ran["batch"], "--download", str(target), "-o", "json")
    assert got.code == 0, got.err
    assert [g["action"] for g in got.json()] == ["downloaded", "downloaded"]
    assert (target / "greet-a" / "hello.txt").read_text() == "hello x\n"
    assert (target / "greet-b" / "hello.txt").read_text() == "hello y\n"
    again = cli("outputs", "--batch", ran["batch"], "--download", str(target), "-o", "json")
    assert [g["action"] for g in again.json()] == ["skipped", "skipped"]


def test_batch_wait_timeout_leaves_runs_going_and_says_how_to_resume(
    cli: Any, tmp_path: Path, slow_spec: Path
) -> None:
    spec = tmp_path / "slow-batch.yaml"
    spec.write_text("pipeline: slow\nname: 'slow-{n}'\n")
    samples = sheet(tmp_path, ["1", "2"], header="n")
    done = cli(
        "batch", str(spec), str(samples), "-q", "--wait", "--timeout", "0.3", "--poll", "0.05"
    )
    line = done.fails(124, "2 of 2 runs still not finished", "runhub wait --batch b-")
    batch_id = line.rsplit("--batch ", 1)[1].rstrip(")")
    states = {r["state"] for r in cli("runs", "--batch", batch_id, "-o", "json").json()}
    assert states <= {"QUEUED", "RUNNING"}
    assert cli("cancel", "--batch", batch_id, "--yes").code == 0


def test_the_example_samplesheet_runs(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)  # the example's paths are relative to the repository root
    done = cli(
        "batch",
        "examples/samplesheets/hello.yaml",
        "examples/samplesheets/hello.csv",
        "--wait",
        "--poll",
        "0.05",
        "-o",
        "json",
    )
    assert done.code == 0, done.err
    data = done.json()
    assert [r["name"] for r in data["runs"]] == ["hello-A", "hello-B", "hello-C"]
    into = tmp_path / "results"
    got = cli("outputs", "--batch", data["batch"], "--download", str(into))
    assert got.code == 0, got.err
    summary = (into / "hello-C" / "summary.tsv").read_text().splitlines()
    assert summary[1].startswith("sample-C.fastq.gz\t50\t")


def test_ctrl_c_says_how_to_resume(tmp_path: Path, slow_spec: Path, home: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    spec = tmp_path / "slow-batch.yaml"
    spec.write_text("pipeline: slow\nname: 'slow-{n}'\n")
    samples = sheet(tmp_path, ["1", "2"], header="n")
    command = [sys.executable, "-m", "runhub.cli", "batch", str(spec), str(samples), "--wait"]
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    ledger = Ledger(home / "ledger.sqlite")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len([r for r in ledger.runs() if r.ref]) < 2:
        time.sleep(0.05)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    last = err.strip().splitlines()[-1]
    assert last.startswith("runhub: error: interrupted: batch b-")
    assert "run the same command again to resume" in last
    assert "Traceback" not in err


def test_commands_on_a_batch_read_the_profiles_ledger(
    cli: Any, tmp_path: Path, ok_spec: Path, home: Path
) -> None:
    # a team profile with a ledger of its own: the batch is recorded there only
    team = tmp_path / "team-ledger.sqlite"
    (tmp_path / "config.toml").write_text(f'[lab]\nledger = "{team}"\n')
    samples = sheet(tmp_path, ["a,x", "b,y"])
    spec = str(template(tmp_path, ok_spec))
    batch = cli("--profile", "lab", "batch", spec, str(samples), "-o", "json")
    assert batch.code == 0, batch.err
    batch_id = batch.json()["batch"]
    with Ledger(team) as ledger:
        refs = sorted(str(r.ref) for r in ledger.batch(batch_id))
    assert len(refs) == 2
    with Ledger(home / "ledger.sqlite") as default:
        assert default.runs(limit=None) == []  # nothing went to the default ledger

    waited = cli("--profile", "lab", "wait", "--batch", batch_id, "-o", "json")
    assert waited.code == 0, waited.err
    assert sorted(r["ref"] for r in waited.json()) == refs
    status = cli("--profile", "lab", "status", "--batch", batch_id, "-o", "json")
    assert sorted(r["ref"] for r in status.json()) == refs
    into = tmp_path / "outputs"
    got = cli("--profile", "lab", "outputs", "--batch", batch_id, "--download", str(into))
    assert got.code == 0, got.err
    # one folder per run, named from the team ledger's run names
    assert sorted(p.name for p in into.iterdir()) == ["greet-a", "greet-b"]
    # without the profile, the default ledger is asked, and it knows no such batch
    cli("status", "--batch", batch_id).fails(2, f"no launched runs recorded for batch {batch_id!r}")
