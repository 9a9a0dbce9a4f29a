"""Shared helpers for the benchmark scripts: tables, JSON results, timing."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"

# Clients record launches in the default ledger (RUNHUB_HOME): a benchmark's runs
# go to a ledger of their own, never into the user's.
if "RUNHUB_BENCH_HOME" not in os.environ:
    import tempfile

    os.environ["RUNHUB_BENCH_HOME"] = os.environ["RUNHUB_HOME"] = tempfile.mkdtemp(
        prefix="runhub-bench-home-"
    )

# Measure what a user gets from the second run on: bytecode cached. Sandbox and CI
# images often set PYTHONDONTWRITEBYTECODE, under which every process a benchmark
# starts compiles each runhub module from source again (~0.2 s of CPU per process on
# the 2-core VM), while the peers' libraries come precompiled by pip. So runhub is
# byte-compiled once here, as pip would at install, and the processes started by a
# benchmark may cache bytecode like any user's interpreter.
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def precompile() -> None:
    """Byte-compile runhub and the plugins in this checkout (what pip does at install)."""
    import compileall

    root = Path(__file__).resolve().parent.parent
    for folder in [root / "runhub", *sorted(root.glob("plugins/*/runhub_*"))]:
        compileall.compile_dir(folder, quiet=1)


precompile()


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def interleaved_medians(fns: Mapping[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Median wall time of each function over ``repeat`` rounds, one call of each per
    round, so every case sees the same drifts in the machine's speed."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(seconds) for name, seconds in times.items()}


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers], *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def write(name: str, payload: dict[str, Any]) -> Path:
    """Write ``bench/results/<name>.json`` (or under ``$RUNHUB_BENCH_RESULTS``); its path."""
    folder = Path(os.environ.get("RUNHUB_BENCH_RESULTS") or RESULTS)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **payload}, indent=2) + "\n")
    return path


class Emulator:
    """An emulator served by ``bench/_serve.py`` in its own process (no shared GIL).

    ``stats()`` returns the server's counts (requests, 429s, per route); ``reset()``
    zeroes them. Use as a context manager.
    """

    def __init__(
        self,
        backend: str,
        *,
        latency: float = 0.0,
        rate_limit: float | None = None,
        speed: float = 1.0,
    ) -> None:
        import subprocess
        import sys

        cmd = [sys.executable, str(Path(__file__).parent / "_serve.py"), backend]
        cmd += ["--latency", str(latency), "--speed", str(speed)]
        if rate_limit:
            cmd += ["--rate-limit", str(rate_limit)]
        self.backend = backend
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self.close()
            raise RuntimeError(f"the {backend} emulator did not start")

    def _ask(self, command: str) -> dict[str, Any]:
        assert self._proc.stdin is not None
        assert self._proc.stdout is not None
        self._proc.stdin.write(command + "\n")
        self._proc.stdin.flush()
        answer: dict[str, Any] = json.loads(self._proc.stdout.readline())
        return answer

    def stats(self) -> dict[str, Any]:
        """Requests answered since the last reset: ``requests``, ``limited``, ``routes``."""
        return self._ask("stats")

    def cpu_seconds(self) -> float:
        """CPU time the server process has used so far (Linux ``/proc``; 0 elsewhere)."""
        try:
            fields = Path(f"/proc/{self._proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def reset(self) -> None:
        """Zero the counts."""
        self._ask("reset")

    def close(self) -> None:
        """Stop the server process."""
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=10)
        except Exception:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
