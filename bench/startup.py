"""CLI start-up: runhub --version / --help / launch --dry-run versus `python -c pass`.

Whole processes, median of repeated runs. Usage: python bench/startup.py [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import interleaved_medians, table, write

ROOT = Path(__file__).resolve().parent.parent
FLOOR = "dependencies alone (click, yaml, one pydantic model)"
FLOOR_CODE = "import click, yaml\nfrom pydantic import BaseModel\nclass A(BaseModel):\n    x: int\n"


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args(argv)
    runhub = [sys.executable, "-m", "runhub.cli"]
    home = tempfile.mkdtemp(prefix="runhub-bench-")
    env = {**os.environ, "RUNHUB_HOME": home, "RUNHUB_CONFIG": f"{home}/none.toml"}
    # bytecode cached, as from a user's second run on (_common.precompile)
    spec = str(ROOT / "examples" / "hello" / "runspec.yaml")
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        # What any CLI built on runhub's chosen packages pays before its own code.
        FLOOR: [sys.executable, "-c", FLOOR_CODE],
        "runhub --version": [*runhub, "--version"],
        "runhub --help": [*runhub, "--help"],
        "runhub launch --dry-run (local)": [*runhub, "launch", "--dry-run", spec],
    }

    def run(cmd: list[str]) -> None:
        subprocess.run(cmd, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)

    for cmd in cases.values():  # warm the OS caches and .pyc files
        run(cmd)
    # Round-robin: this VM's speed drifts by 2x within minutes; cases measured one
    # block after another would compare different machines.
    medians = interleaved_medians(
        {name: (lambda c=cmd: run(c)) for name, cmd in cases.items()}, args.repeat
    )
    base = medians["python -c pass"]
    targets = {"runhub --version": ("<= 3x python", medians["runhub --version"] <= 3 * base)}
    targets["runhub launch --dry-run (local)"] = (
        "< 300 ms",
        medians["runhub launch --dry-run (local)"] < 0.3,
    )
    rows = []
    for name, seconds in medians.items():
        target, met = targets.get(name, ("", None))
        verdict = "" if met is None else ("met" if met else "MISSED")
        rows.append([name, seconds * 1000, seconds / base, target, verdict])
    print(table(["command", "median ms", "x python", "target", ""], rows))
    path = write("startup", {"repeat": args.repeat, "median_seconds": medians})
    print(f"\nwrote {path}")
    return medians


if __name__ == "__main__":
    main()
