"""Issue 12, ICA: the CLI against the ICA emulator served over HTTP in its documented
variance mode (``IcaEmulator(variance=True)``, what ``python -m runhub_ica.emulator
--variance`` serves), with ``ICAV2_PROJECT_ID`` given as the project's *name*.

Under the variance every create is answered 409 twice after its first attempt, the
tag filter of ``analysis:search`` returns near-misses, ``/data`` and ``/projects``
answer two rows a page with ``details.path`` as the parent's path, and outputs report
the machine's mount paths. runhub must still make exactly one run per row,
authenticate once, find the exact data, and download the outputs.
"""

from __future__ import annotations

import json
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
from runhub_ica.auth import TOKENS
from runhub_ica.emulator import IcaEmulator, seed

from runhub.ledger import Ledger
from runhub.testing.emulator import Clock, EmulatorServer, FaultPlan

KEY = "cli-variance-key-8e21"
TEMPLATE = """\
backend: ica
pipeline: dragen-germline-4-3-6
name: "germline {sample}"
mounts:
  - {source: /fastqs/, input: fastqs}
  - {source: /cases/sample.csv, input: ref_tar}
parameters:
  sample_ids: ["{sample}"]
"""
JSON_FORM = """\
backend: ica
pipeline: dragen-somatic-json-4-3-6
name: somatic A
mounts:
  - {source: /fastqs/, input: tumor_fastqs}
  - {source: /reference/GRCh38.fa, input: ref_tar, path: ref/}
parameters: {threads: 8}
"""


@dataclass
class Ica:
    app: IcaEmulator
    server: EmulatorServer
    env: dict[str, str]

    def minted(self) -> int:
        return self.app.log.count("POST /ica/rest/api/tokens")


@pytest.fixture
def ica(monkeypatch: pytest.MonkeyPatch) -> Iterator[Ica]:
    TOKENS.clear()  # the CLI runs in this process: start without a JWT
    app = IcaEmulator(Clock(speed=5000), variance=True)
    with EmulatorServer(app) as server:
        env = {
            "ICAV2_SERVER_URL": server.url,
            "ICAV2_X_API_KEY": KEY,
            "ICAV2_PROJECT_ID": seed.PROJECT_NAME,  # a name: resolved exactly
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        yield Ica(app, server, env)
    TOKENS.clear()


def sheet(tmp_path: Path, rows: int) -> Path:
    path = tmp_path / "samples.csv"
    path.write_text("sample\n" + "".join(f"S{i:03d}\n" for i in range(rows)))
    return path


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_batch_with_drops_makes_one_run_per_row_and_authenticates_once(
    cli: Any, tmp_path: Path, ica: Ica
) -> None:
    rows = 10
    ica.server.faults = FaultPlan(0.5, ["drop-after"], seed=12, only=["/analysis:"])
    spec, samples = write(tmp_path, "t.yaml", TEMPLATE), sheet(tmp_path, rows)
    done = cli("batch", str(spec), str(samples), "--wait", "--poll", "0.05", "-o", "json")
    assert done.code == 0, done.err
    assert done.json()["summary"] == {"SUCCEEDED": rows}
    assert ica.server.faults.counts["drop-after"] > 0
    assert len(ica.app.analyses) == rows  # counted on the emulator
    assert len({a.user_reference for a in ica.app.analyses}) == rows
    exact = next(r.id for r in ica.app.world.data.values() if r.path == "/cases/sample.csv")
    assert all(b["analysisInput"]["inputs"][1]["dataIds"] == [exact] for b in ica.app.created)
    assert ica.minted() == 1
    assert ica.app.auth["api-key"] == 1
    assert KEY not in done.out + done.err
    again = cli("batch", str(spec), str(samples), "-q")  # every row re-attached
    assert again.code == 0, again.err
    assert len(ica.app.analyses) == rows


def test_batch_killed_midway_then_run_again_adopts_only_its_own_runs(
    cli: Any, tmp_path: Path, home: Path, ica: Ica
) -> None:
    # Rows whose create was sent when the process died are looked up by key tag; the
    # loose filter hands back other rows' runs, which must never be adopted.
    rows = 16
    ica.server.latency = 0.03
    spec, samples = write(tmp_path, "t.yaml", TEMPLATE), sheet(tmp_path, rows)
    command = [sys.executable, "-m", "runhub.cli", "batch", str(spec), str(samples), "-j", "4"]
    command.append("--no-creation-batch")  # one create per run: the kill lands between them
    first = subprocess.Popen(
        command,
        env={**os.environ, **ica.env},
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    ledger = Ledger(home / "ledger.sqlite")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and first.poll() is None:
        if len([r for r in ledger.runs(limit=0) if r.ref]) >= 4:
            break
        time.sleep(0.02)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert 0 < len(ica.app.analyses) < rows, "the kill should land midway"
    ica.server.latency = 0.0
    ica.app.forget_idempotency()  # beyond ICA's 7 days: only the key tag finds a run
    again = cli("batch", str(spec), str(samples), "--wait", "--poll", "0.05", "-o", "json")
    assert again.code == 0, again.err
    refs = [r["ref"] for r in again.json()["runs"]]
    assert len(set(refs)) == rows  # one run per row, none adopted twice
    assert len(ica.app.analyses) == rows


def test_json_form_launch_wait_and_download(cli: Any, tmp_path: Path, ica: Ica) -> None:
    spec = write(tmp_path, "somatic.yaml", JSON_FORM)
    launched = cli("launch", str(spec), "--wait", "--poll", "0.05", "-o", "json")
    assert launched.code == 0, launched.err
    run = launched.json()["run"]
    assert run["state"] == "SUCCEEDED"
    assert (
        ica.app.log.count(f"POST /ica/rest/api/projects/{seed.PROJECT_ID}/analysis:nextflowJson")
        == 1
    )
    into = tmp_path / "results"
    got = cli("outputs", run["ref"], "--download", str(into), "-o", "json")
    assert got.code == 0, got.err
    files = {Path(row["path"]).relative_to(into).as_posix(): row["size"] for row in got.json()}
    assert len(files) == 2
    assert all(not p.startswith(("/", "ces")) for p in files)  # names, not mount paths
    for relative, size in files.items():
        assert (into / relative).stat().st_size == size > 0
    again = cli("outputs", run["ref"], "--download", str(into), "-o", "json")
    assert {row["action"] for row in again.json()} == {"skipped"}


def test_unusable_data_and_bad_names_fail_before_any_create(
    cli: Any, tmp_path: Path, ica: Ica
) -> None:
    partial = TEMPLATE.replace("/cases/sample.csv", "/fastqs/SampleC_S3_L001_R1_001.fastq.gz")
    spec = write(tmp_path, "partial.yaml", partial.replace("{sample}", "A"))
    cli("launch", str(spec)).fails(2, "SampleC_S3_L001_R1_001.fastq.gz", "upload has not finished")
    named = write(tmp_path, "named.yaml", TEMPLATE.replace('"germline {sample}"', '"bad\\n"'))
    before = len(ica.app.log)
    cli("launch", str(named)).fails(2, "name")
    assert len(ica.app.log) == before  # refused offline
    assert ica.app.created == []


CUSTOM_INPUT = """\
backend: ica
pipeline: nf-core-rnaseq-3-14-0
name: custom A
mounts:
  - {source: /reference/GRCh38.fa, input: input}
parameters: {outdir: out}
options:
  ica: {kind: nextflow-custom}
"""


def test_custom_input_launch_mounts_a_file_name_and_downloads_by_name(
    cli: Any, tmp_path: Path, ica: Ica
) -> None:
    spec = write(tmp_path, "custom.yaml", CUSTOM_INPUT)
    launched = cli("launch", str(spec), "--wait", "--poll", "0.05", "-o", "json")
    assert launched.code == 0, launched.err
    assert launched.json()["run"]["state"] == "SUCCEEDED"
    (sent,) = ica.app.created
    ai = sent["analysisInput"]
    genome = next(r for r in ica.app.world.data.values() if r.path == "/reference/GRCh38.fa")
    # the mount path ends with the data's own name, and the custom input points at it
    assert ai["mounts"] == [{"dataId": genome.id, "mountPath": "GRCh38.fa"}]
    assert json.loads(ai["customInput"])["input"] == "GRCh38.fa"
    into = tmp_path / "results"
    got = cli("outputs", launched.json()["run"]["ref"], "--download", str(into), "-o", "json")
    assert got.code == 0, got.err
    rows = got.json()
    assert rows
    for row in rows:  # output paths are names under the target, never the machine's mounts
        relative = Path(row["path"]).relative_to(into).as_posix()
        assert not relative.startswith(("/", "ces"))
        assert (into / relative).stat().st_size == row["size"]
