"""The CLI against the ICA and Code Ocean emulators served on 127.0.0.1: batches of
50 with --wait, a batch killed midway and run again (exactly 50 runs), cancel
confirmation, JSON shapes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from runhub_codeocean.emulator import DEFAULT_TOKEN, CodeOceanEmulator
from runhub_ica.emulator import IcaEmulator, seed

from runhub.ledger import Ledger
from runhub.testing.emulator import Clock, EmulatorServer

ROWS = 50
ICA_TEMPLATE = """\
backend: ica
pipeline: dragen-germline-4-3-6
name: "germline {sample}"
mounts:
  - {source: /fastqs/, input: fastqs}
  - {source: /reference/hg38-alt_masked.cnv.graph.hla.rna-9-r3.0-1.tar, input: ref_tar}
parameters:
  sample_ids: ["{sample}"]
"""
CO_TEMPLATE = """\
backend: codeocean
pipeline: 3f2f5a8e-1c61-4f0b-9a55-6d1f2c7b9e01
version: 2
name: "art-{sample}"
mounts:
  - {source: bf8cf993-a583-495c-bebd-2f38f81d1ea1, path: Reference}
parameters: ["75", "{coverage}", HS25]
"""


@dataclass
class Platform:
    """One emulator behind a real HTTP server, and how to reach it."""

    name: str
    app: Any
    server: EmulatorServer
    env: dict[str, str]
    template: str

    def created(self) -> int:
        if isinstance(self.app, IcaEmulator):
            return len(self.app.analyses)
        return len(self.app.created)


def _platform(name: str) -> tuple[Any, dict[str, str], str]:
    clock = Clock(speed=5000)
    if name == "ica":
        return (
            IcaEmulator(clock),
            {"ICAV2_X_API_KEY": "cli-test-key-31f5", "ICAV2_PROJECT_ID": seed.PROJECT_ID},
            ICA_TEMPLATE,
        )
    return CodeOceanEmulator(clock=clock), {"CODEOCEAN_API_TOKEN": DEFAULT_TOKEN}, CO_TEMPLATE


@pytest.fixture(params=["ica", "codeocean"])
def platform(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Platform]:
    app, env, template = _platform(request.param)
    with EmulatorServer(app) as server:
        url_var = "ICAV2_SERVER_URL" if request.param == "ica" else "CODEOCEAN_URL"
        env = {**env, url_var: server.url}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield Platform(request.param, app, server, env, template)


def samples(tmp_path: Path, rows: int = ROWS) -> Path:
    path = tmp_path / "samples.csv"
    path.write_text("sample,coverage\n" + "".join(f"S{i:03d},{1 + i % 3}\n" for i in range(rows)))
    return path


def template(tmp_path: Path, platform: Platform) -> Path:
    path = tmp_path / f"{platform.name}.yaml"
    path.write_text(platform.template)
    return path


def test_batch_of_50_with_wait(cli: Any, tmp_path: Path, platform: Platform) -> None:
    done = cli(
        "batch",
        str(template(tmp_path, platform)),
        str(samples(tmp_path)),
        "--wait",
        "--poll",
        "0.05",
        "-o",
        "json",
    )
    assert done.code == 0, done.err
    data = done.json()
    assert data["summary"] == {"SUCCEEDED": ROWS}
    assert platform.created() == ROWS
    assert len({r["ref"] for r in data["runs"]}) == ROWS
    secret = next(v for k, v in platform.env.items() if "KEY" in k or "TOKEN" in k)
    assert secret not in done.out + done.err
    # again: every row re-attached, nothing launched
    again = cli("batch", str(template(tmp_path, platform)), str(samples(tmp_path)), "-q")
    assert again.code == 0, again.err
    assert platform.created() == ROWS
    assert sorted(again.lines) == sorted(r["ref"] for r in data["runs"])
    # the ledger, refreshed from the platform in a new "process" (a new client)
    listed = cli("runs", "--batch", data["batch"], "--refresh", "-n", "0", "-o", "json")
    assert listed.code == 0, listed.err
    assert {r["state"] for r in listed.json()} == {"SUCCEEDED"}


def test_batch_killed_midway_then_run_again_makes_exactly_50_runs(
    tmp_path: Path, home: Path, platform: Platform, cli: Any
) -> None:
    platform.server.latency = 0.03  # slow enough to be killed in the middle
    spec, sheet = template(tmp_path, platform), samples(tmp_path)
    env = {**os.environ, **platform.env}
    command = [sys.executable, "-m", "runhub.cli", "batch", str(spec), str(sheet), "-j", "4"]
    # One request per run, so the kill lands between launches (ICA would create all
    # 50 in one creation batch); the re-run then sends the rest in creation batches.
    command.append("--no-creation-batch")
    first = subprocess.Popen(
        command,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ledger = Ledger(home / "ledger.sqlite")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and first.poll() is None:
        if len([r for r in ledger.runs(limit=0) if r.ref]) >= 10:
            break
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    launched_before = platform.created()
    assert 0 < launched_before < ROWS, "the kill should land midway"
    platform.server.latency = 0.0
    again = cli("batch", str(spec), str(sheet), "--wait", "--poll", "0.05", "-o", "json")
    assert again.code == 0, again.err
    assert platform.created() == ROWS
    assert again.json()["summary"] == {"SUCCEEDED": ROWS}


def test_a_row_the_platform_would_refuse_stops_the_batch_before_anything_launches(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pre-flight means pre-flight: a row naming a capsule that does not exist used to
    # pass the checks and half-launch the batch (rows 2 and 4 launched, row 3 not).
    app = CodeOceanEmulator(clock=Clock(speed=5000))
    spec = tmp_path / "co.yaml"
    spec.write_text(CO_TEMPLATE.replace("3f2f5a8e-1c61-4f0b-9a55-6d1f2c7b9e01", "'{capsule}'"))
    good = "3f2f5a8e-1c61-4f0b-9a55-6d1f2c7b9e01"
    missing = "00000000-0000-4000-8000-000000000000"
    sheet = tmp_path / "rows.tsv"
    sheet.write_text(f"sample\tcoverage\tcapsule\nA\t1\t{good}\nB\t2\t{missing}\nC\t3\t{good}\n")
    with EmulatorServer(app) as server:
        monkeypatch.setenv("CODEOCEAN_URL", server.url)
        monkeypatch.setenv("CODEOCEAN_API_TOKEN", DEFAULT_TOKEN)
        dry = cli("batch", str(spec), str(sheet), "--dry-run")
        done = cli("batch", str(spec), str(sheet), "--wait", "--poll", "0.05", "-o", "json")
    for attempt in (dry, done):
        assert attempt.code == 4, attempt.err
        assert "nothing was launched" in attempt.err
        assert f"row 3: pipeline: no capsule {missing}" in attempt.err
        assert "Traceback" not in attempt.err
    assert app.created == []
    assert not any(method == "POST" for method, _ in app.requests)
