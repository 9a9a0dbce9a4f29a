"""``bench/faults.py --kills K``: ``runhub batch`` on ICA through creation batches
(the default size) under injected faults, SIGKILLed K times at random moments, then
run again until it exits 0. Counted on the emulator: analyses created, duplicates
(a launch key tag on two analyses), rows lost, and rows whose ref is not the
analysis carrying their own key tag.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from fault_scenario import template
from platforms import fault_plan, serve

from runhub.backend import RunRef
from runhub.ledger import Ledger


def measure_killed(n: int, rate: float, seed: int, kills: int) -> dict[str, Any]:
    rng = random.Random(seed)
    work = Path(tempfile.mkdtemp(prefix="runhub-killed-"))
    (work / "tpl.yaml").write_text(template("ica"))
    (work / "sheet.csv").write_text("row,mode\n" + "".join(f"{i},fast\n" for i in range(n)))
    command = [sys.executable, "-m", "runhub.cli", "batch", "tpl.yaml", "sheet.csv", "-o", "json"]
    killed = 0
    codes: list[int] = []
    started = time.perf_counter()
    with serve("ica", fault_plan(rate, seed), creation_batch_size=100) as platform:
        env = {**os.environ, **platform.env(), "RUNHUB_HOME": str(work / "home")}
        env["RUNHUB_CONFIG"] = str(work / "none.toml")
        for _ in range(kills):
            proc = subprocess.Popen(
                command, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                # start-up and checks take ~2 s, the launches ~2 s more: kills land in both
                proc.wait(timeout=rng.uniform(0.5, 5.0))
            except subprocess.TimeoutExpired:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                killed += 1
            codes.append(proc.returncode)
        for _ in range(20):
            done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True)
            codes.append(done.returncode)
            if done.returncode == 0:
                break
        wall = time.perf_counter() - started
        runs = json.loads(done.stdout)["runs"] if done.returncode == 0 else []
        analyses = {a.id: a for a in platform.app.analyses}
        batches = len(platform.app.batches.batches)
        faults = dict(sorted(platform.faults.counts.items()))
    tags = Counter(
        t for a in analyses.values() for t in a.tags["technicalTags"] if t.startswith("runhub-key:")
    )
    rows = {r.row_key: r for r in Ledger(work / "home" / "ledger.sqlite").runs(limit=None)}
    wrong = 0
    for run in runs:
        ident = RunRef.parse(run["ref"]).id.rpartition("/")[2] if run["ref"] else ""
        analysis, record = analyses.get(ident), rows.get(run["row_key"])
        mine = analysis is not None and record is not None
        if not mine or f"runhub-key:{record.key}" not in analysis.tags["technicalTags"]:
            wrong += 1
    return {
        "platform": "ica (creation batches)",
        "runs_asked": n,
        "runs_created": len(analyses),
        "duplicates": sum(c - 1 for c in tags.values() if c > 1),
        "lost": n - len(tags),
        "wrong_refs": wrong,
        "kills": killed,
        "exit_codes": codes,
        "creation_batches_accepted": batches,
        "faults_injected": faults,
        "faults_total": sum(faults.values()),
        "seconds": round(wall, 1),
    }
