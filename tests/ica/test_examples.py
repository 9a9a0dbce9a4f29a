"""The specs in examples/ica run against the seeded emulator, in-process and through
the CLI against ``python -m runhub_ica.emulator``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from runhub_ica.emulator import IcaEmulator, seed
from runhub_ica.translate import plan

from runhub.client import Client
from runhub.spec import RunSpec
from runhub.state import RunState
from runhub.testing.emulator import Clock

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "ica"
SPECS = sorted(EXAMPLES.glob("*.yaml"))


def test_every_launch_kind_has_an_example() -> None:
    kinds = {plan(RunSpec.from_file(p)).kind for p in SPECS}
    assert kinds == {"nextflow", "nextflow-custom", "cwl", "cwl-json"}


@pytest.mark.parametrize("path", SPECS, ids=[p.stem for p in SPECS])
def test_example_runs_on_the_emulator(
    path: Path, client: Client, app: IcaEmulator, clock: Clock
) -> None:
    spec = RunSpec.from_file(path)
    client.validate(spec)
    status = client.launch(path)
    assert status.name == spec.name
    clock.advance(60)
    assert client.status(status.ref).state is RunState.SUCCEEDED
    assert client.outputs(status.ref)
    assert len(app.analyses) == 1


def test_cli_launch_against_python_m_emulator(tmp_path: Path) -> None:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "runhub_ica.emulator", "--port", "0", "--speed", "100"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert emulator.stdout is not None
        url = emulator.stdout.readline().strip()
        env = {
            **os.environ,
            "ICAV2_SERVER_URL": url,
            "ICAV2_X_API_KEY": "emulator-key",
            "ICAV2_PROJECT_ID": seed.PROJECT_ID,
            "RUNHUB_HOME": str(tmp_path / "home"),
            "RUNHUB_CONFIG": str(tmp_path / "none.toml"),
        }
        env.pop("ICAV2_ACCESS_TOKEN", None)
        command = [
            sys.executable,
            "-m",
            "runhub.cli",
            "launch",
            str(EXAMPLES / "dragen-germline.yaml"),
            "--backend",
            "ica",
            "--wait",
        ]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    assert done.returncode == 0, done.stderr
    assert f"ica:{seed.PROJECT_ID}/" in done.stdout
    assert "SUCCEEDED" in done.stdout
    assert "emulator-key" not in done.stdout + done.stderr
