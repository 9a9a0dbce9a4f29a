"""Running the CLI in-process against the local backend, with runhub's home in tmp_path."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from runhub.cli import run

sys.path.insert(0, str(Path(__file__).parent))  # emulated.py: the emulators over HTTP


@dataclass
class Result:
    """What one CLI invocation did."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def fails(self, code: int, *phrases: str) -> str:
        """Assert an expected failure: that exit code, one ``runhub: error:`` line
        holding every phrase, no traceback. Returns the line."""
        assert self.code == code, (self.code, self.out, self.err)
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("runhub: error: ")
        assert "Traceback" not in self.err + self.out
        for phrase in phrases:
            assert phrase in lines[0]
        return lines[0]


def invoke(*args: str, stdin: str | None = None) -> Result:
    """Run ``runhub ARGS`` in this process, through the same entry point as the script."""
    runner = CliRunner()
    with runner.isolation(input=stdin) as (out, err, _mixed):
        code = run(list(args))
    return Result(code, out.getvalue().decode(), err.getvalue().decode())


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private runhub home and an empty config; the tests run in tmp_path."""
    home = tmp_path / "home"
    monkeypatch.setenv("RUNHUB_HOME", str(home))
    monkeypatch.setenv("RUNHUB_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("RUNHUB_LOCAL_CANCEL_GRACE", "0.5")
    for name in ("RUNHUB_PROFILE", "RUNHUB_LOG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    yield home
    _stop_leftovers(home)


def _stop_leftovers(home: Path) -> None:
    # A test that fails half-way must not leave a sleeping run behind.
    runs = home / "runs"
    if not runs.is_dir():
        return
    for run_dir in runs.iterdir():
        state = json.loads((run_dir / "state.json").read_text())
        if state.get("state") not in ("SUCCEEDED", "FAILED", "CANCELLED"):
            invoke("cancel", "--yes", f"local:{run_dir.name}")


def _pipeline(root: Path, name: str, script: str) -> Path:
    folder = root / name
    folder.mkdir()
    run_file = folder / "run"
    run_file.write_text("#!/bin/sh\n" + script)
    run_file.chmod(run_file.stat().st_mode | stat.S_IXUSR)
    return folder


def _spec(root: Path, name: str, body: str) -> Path:
    path = root / f"{name}.yaml"
    path.write_text(body)
    return path


@pytest.fixture
def ok_spec(tmp_path: Path) -> Path:
    """Writes ``hello <first argument>`` to results/hello.txt and succeeds."""
    _pipeline(tmp_path, "greet", 'echo "hello ${1:-nobody}" > results/hello.txt\n')
    return _spec(tmp_path, "greet", "pipeline: greet\nparameters: [world]\n")


@pytest.fixture
def failing_spec(tmp_path: Path) -> Path:
    """Exits 3."""
    _pipeline(tmp_path, "broken", "echo boom >&2\nexit 3\n")
    return _spec(tmp_path, "broken", "pipeline: broken\n")


@pytest.fixture
def slow_spec(tmp_path: Path) -> Path:
    """Runs until cancelled."""
    _pipeline(tmp_path, "slow", "exec sleep 60\n")
    return _spec(tmp_path, "slow", "pipeline: slow\n")


@pytest.fixture
def cli() -> Any:
    """``cli(*args, stdin=None) -> Result``: runhub in this process."""
    return invoke


@pytest.fixture
def script() -> Any:
    """``script(*args, cwd=...)``: ``python -m runhub.cli`` in a subprocess, no stdin."""
    return run_script


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m runhub.cli ARGS`` in a subprocess, no stdin (like cron or CI)."""
    return subprocess.run(
        [sys.executable, "-m", "runhub.cli", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
