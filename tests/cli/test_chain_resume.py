"""A chain killed with SIGKILL at random points and run again: every step is
launched exactly once, counted on the ICA emulator's own record of creates."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from emulated import serve  # type: ignore[import-not-found]

CHAIN = """\
backend: ica
steps:
  first:
    spec:
      pipeline: fastqc-0-12
      name: "Hello {sample}"
      mounts: [{source: /fastqs/, input: reads}]
  second:
    after: [first]
    spec: {pipeline: nf-core-rnaseq-3-14-0, name: "CallLambda {sample}"}
    inputs:
      - from: {step: first, outputs: test.txt}
        mount: {input: input}
"""
ROWS = 6
KILLS = 5


def _command(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "runhub.cli",
        "chain",
        "run",
        "chain.yaml",
        "--samplesheet",
        "sheet.csv",
        "--poll-interval",
        "0.05",
        *extra,
    ]


def test_kill_9_at_random_points_then_a_rerun_launches_every_step_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "chain.yaml").write_text(CHAIN)
    sheet = ["sample"] + [f"S{i}" for i in range(ROWS)]
    (tmp_path / "sheet.csv").write_text("\n".join(sheet) + "\n")
    seed = random.randrange(1 << 30)
    pick = random.Random(seed)
    with serve("ica", monkeypatch, speed=500) as served:
        served.app.world.extra_outputs = (("test.txt", 12),)
        for _ in range(KILLS):
            proc = subprocess.Popen(
                _command("--wait"),
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=os.environ.copy(),
            )
            time.sleep(pick.uniform(0.2, 3.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        done = subprocess.run(
            _command("--wait", "-o", "json"),
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert done.returncode == 0, (seed, done.stderr)
        assert json.loads(done.stdout)["verdict"] == "succeeded"
        made = Counter(body["userReference"] for body in served.app.created)
        assert len(served.app.created) == 2 * ROWS, (seed, made)
        assert set(made.values()) == {1}, (seed, made)
        for i in range(ROWS):
            assert made[f"Hello S{i}"] == made[f"CallLambda S{i}"] == 1
