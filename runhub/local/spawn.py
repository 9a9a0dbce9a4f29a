"""Starting supervisors without waiting for them, and telling whether one lives.

A launch starts ``python -c <supervisor>`` in a new session and returns at once; that
first process forks the real supervisor (adopted by init) and exits. :class:`Spawner`
keeps the first processes until they have exited and reaps them, so a long-lived
launching process is never left with zombies.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from runhub.local import rundir as rd

#: How long a supervisor may take to start before its run counts as failed.
SPAWN_TIMEOUT = 30.0

# Started by `python -c` with runhub's own location on sys.path, so the supervisor
# finds the same runhub as the launcher without touching the run's PYTHONPATH.
_SUPERVISOR = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from runhub.local.supervise import main; sys.exit(main(sys.argv[2:]))"
)


class Spawner:
    """Starts supervisors and reaps their short-lived first processes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._starting: list[tuple[subprocess.Popen[bytes], rd.RunDir]] = []

    def spawn(self, run: rd.RunDir) -> None:
        """Start the supervisor of ``run`` unless another launcher already did."""
        import runhub

        where = str(Path(runhub.__file__).resolve().parent.parent)
        claim = claim_start(run)
        if claim is None:
            return
        with claim:
            proc = subprocess.Popen(
                [sys.executable, "-c", _SUPERVISOR, where, str(run.path)],
                cwd=run.path,
                stdin=subprocess.DEVNULL,
                stdout=claim,
                stderr=claim,
                start_new_session=True,  # detached: the run survives the caller
            )
        # Not waited for here: it forks and exits within moments, and the next call
        # (or close) reaps it, so launching costs a fork, not an interpreter start.
        with self._lock:
            self._starting.append((proc, run))

    def reap(self, timeout: float | None = 0.0) -> None:
        """Collect first supervisor processes that have exited (no zombies left)."""
        with self._lock:
            starting, self._starting = self._starting, []
        waiting = []
        for proc, run in starting:
            try:
                code = proc.wait(timeout=timeout) if timeout else proc.poll()
            except subprocess.TimeoutExpired:
                code = None
            if code is None:
                waiting.append((proc, run))
            elif code != 0 and run.supervisor_pid() is None:
                never_started(run, f"exit code {code}")
        with self._lock:
            self._starting.extend(waiting)

    def close(self) -> None:
        """Reap the supervisors' first processes; the runs themselves go on."""
        self.reap(timeout=SPAWN_TIMEOUT)


def starting(run: rd.RunDir) -> bool:
    """True once a launcher has claimed the start of this run."""
    return (run.logs / "supervisor.log").exists()


def age(run: rd.RunDir) -> float:
    """Seconds since the start of this run was claimed."""
    try:
        return time.time() - (run.logs / "supervisor.log").stat().st_mtime
    except FileNotFoundError:
        return 0.0


def never_started(run: rd.RunDir, why: str) -> dict[str, Any]:
    problem = rd.tail(run.logs / "supervisor.log") or why
    return run.update_state(
        state=rd.FAILED, ended=rd.now(), message=f"supervisor did not start: {problem}"
    )


def claim_start(run: rd.RunDir) -> BinaryIO | None:
    """Create the supervisor log exclusively: whoever does may start (or settle) the run."""
    try:
        return (run.logs / "supervisor.log").open("xb")
    except FileExistsError:
        return None


def alive(pid: int, run: rd.RunDir) -> bool:
    """True if ``pid`` is still this run's supervisor.

    Where /proc exists, the process must also name the run directory on its command
    line: that tells a recycled pid, or a zombie nobody reaped, from the supervisor.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()  # no /proc (macOS): trust kill(0)
    except OSError:
        return True
    return str(run.path).encode() in cmdline.split(b"\0")
