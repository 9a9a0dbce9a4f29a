"""The specs in examples/codeocean run against the seeded emulator, in-process and
through the CLI against ``python -m runhub_codeocean.emulator``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from runhub_codeocean.emulator import CodeOceanEmulator
from runhub_codeocean.translate import translate

from runhub.client import Client
from runhub.spec import RunSpec
from runhub.state import RunState

from .conftest import finish

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "codeocean"
SPECS = sorted(EXAMPLES.glob("*.yaml"))


def test_the_three_kinds_of_example_exist() -> None:
    kinds = {translate(RunSpec.from_file(p)).kind for p in SPECS}
    assert kinds == {"capsule", "pipeline"}
    bodies = [translate(RunSpec.from_file(p)).body for p in SPECS]
    assert any("parameters" in b and "capsule_id" in b for b in bodies)
    assert any("named_parameters" in b and len(b.get("data_assets", [])) == 2 for b in bodies)
    assert any("processes" in b for b in bodies)


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_example_runs_on_the_emulator(path: Path, client: Client, app: CodeOceanEmulator) -> None:
    status = client.launch(path)
    assert status.name == RunSpec.from_file(path).name
    finish(app)
    assert client.status(status.ref).state is RunState.SUCCEEDED
    assert client.outputs(status.ref)


def test_cli_launch_against_python_m_emulator(tmp_path: Path) -> None:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "runhub_codeocean.emulator", "--port", "0", "--speed", "100"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        url = emulator.stdout.readline().strip()
        env = {
            **os.environ,
            "CODEOCEAN_URL": url,
            "CODEOCEAN_API_TOKEN": "emulator-token",
            "RUNHUB_HOME": str(tmp_path / "home"),
            "RUNHUB_CONFIG": str(tmp_path / "none.toml"),
        }
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "runhub.cli",
                "launch",
                str(EXAMPLES / "art-ordered.yaml"),
                "--backend",
                "codeocean",
                "--wait",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    assert done.returncode == 0, done.stderr
    assert "codeocean:" in done.stdout
    assert "SUCCEEDED" in done.stdout
    assert "logs/run.log" in done.stdout
