"""The supervisor of one local run: ``python -m runhub.local.supervise <rundir>``.

The launcher starts this in a new session. Its first process forks, writes the
supervisor's pid and exits at once (the launcher reaps it on its next call). The
forked supervisor is therefore adopted by init: it outlives the launcher, and a
long-lived launching process is never left holding it as a zombie. The supervisor
starts the pipeline's ``run`` in its own process group, waits for it and records the
outcome in ``state.json``, so ``status`` works from any process at any later time.

Cancel sends SIGTERM to the supervisor, which passes it to the run's process group
and escalates to SIGKILL after the grace period written in ``launch.json``.

Standard library only (plus :mod:`runhub.local.rundir`): keep it cheap to start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from runhub.local.rundir import (
    CANCELLED,
    FAILED,
    RUNNING,
    SUCCEEDED,
    RunDir,
    now,
    read_json,
    tail,
)


class _Supervisor:
    def __init__(self, rundir: RunDir, grace: float) -> None:
        self.rundir = rundir
        self.grace = grace
        self.child: int | None = None
        self.cancelled = False
        self.escalating = False

    def on_term(self, signum: int, frame: FrameType | None) -> None:
        self.cancelled = True
        self.terminate()

    def on_alarm(self, signum: int, frame: FrameType | None) -> None:
        self._signal_group(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM the run's group now, SIGKILL it after the grace period."""
        if self.child is None:
            return  # not started yet: main() checks the flag right after starting
        self._signal_group(signal.SIGTERM)
        if not self.escalating:  # a second cancel must not extend the grace period
            self.escalating = True
            signal.setitimer(signal.ITIMER_REAL, max(self.grace, 0.001))

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.child, sig)

    def run(self, launch: dict[str, Any]) -> None:
        rundir = self.rundir
        if self.cancelled or rundir.cancel_requested():
            rundir.update_state(state=CANCELLED, ended=now(), message="cancelled before it started")
            return
        env = dict(os.environ)
        env.update(launch.get("env") or {})
        logs = rundir.logs
        with (logs / "stdout.log").open("ab") as out, (logs / "stderr.log").open("ab") as err:
            try:
                proc = subprocess.Popen(
                    launch["argv"],
                    cwd=rundir.path,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    process_group=0,  # its own group, so cancel reaches its children too
                )
            except OSError as exc:
                rundir.update_state(
                    state=FAILED, ended=now(), message=f"cannot start run: {exc.strerror}"
                )
                return
            self.child = proc.pid
            rundir.update_state(state=RUNNING, started=now(), pid=proc.pid)
            if self.cancelled or rundir.cancel_requested():
                self.cancelled = True
                self.terminate()
            returncode = proc.wait()
        signal.setitimer(signal.ITIMER_REAL, 0)
        self._finish(returncode)

    def _finish(self, returncode: int) -> None:
        rundir = self.rundir
        exit_code = returncode if returncode >= 0 else 128 - returncode
        if self.cancelled or rundir.cancel_requested():
            self._signal_group(signal.SIGKILL)  # leave nothing of a cancelled run behind
            state, message = CANCELLED, "cancelled"
        elif returncode == 0:
            state, message = SUCCEEDED, "exit code 0"
        else:
            if returncode < 0:
                how = f"killed by {signal.Signals(-returncode).name}"
            else:
                how = f"exit code {returncode}"
            errors = tail(rundir.logs / "stderr.log")
            state, message = FAILED, f"{how}: {errors}" if errors else how
        rundir.update_state(state=state, ended=now(), exit_code=exit_code, message=message)


def main(argv: list[str] | None = None) -> int:
    """Entry point: supervise the run in the directory given as the only argument."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m runhub.local.supervise RUNDIR", file=sys.stderr)
        return 2
    rundir = RunDir(Path(args[0]).resolve())
    launch = _read_launch(rundir)
    supervisor = _Supervisor(rundir, float(launch.get("grace", 10.0)))
    # Handlers first: a cancel may arrive the moment the pid file exists.
    signal.signal(signal.SIGTERM, supervisor.on_term)
    signal.signal(signal.SIGALRM, supervisor.on_alarm)
    pid = os.fork()
    if pid:
        _write_pid(rundir, pid)
        os._exit(0)
    try:
        supervisor.run(launch)
    except Exception as exc:  # record any surprise; a run must never stay RUNNING forever
        rundir.update_state(
            state=FAILED, ended=now(), message=f"supervisor error: {type(exc).__name__}: {exc}"
        )
        raise
    return 0


def _read_launch(rundir: RunDir) -> dict[str, Any]:
    data = read_json(rundir.launch_file)
    if not isinstance(data, dict) or not isinstance(data.get("argv"), list):
        raise SystemExit(f"{rundir.launch_file}: missing or not a launch description")
    return data


def _write_pid(rundir: RunDir, pid: int) -> None:
    tmp = rundir.pid_file.with_suffix(".tmp")
    tmp.write_text(str(pid), encoding="ascii")
    os.replace(tmp, rundir.pid_file)


if __name__ == "__main__":
    sys.exit(main())
