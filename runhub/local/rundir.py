"""The on-disk layout of local runs, shared by the backend and the supervisor.

Standard library only: the supervisor imports this module in a fresh interpreter
for every run, so it must stay cheap to import.

::

    <home>/runs/<run-id>/
        launch.json      what to start: argv, environment, cancel grace (written once)
        spec.json        the RunSpec as launched, and the launch key
        state.json       the run's state and timestamps (replaced atomically)
        supervisor.pid   the supervisor's pid, written as soon as it forks
        cancel           present once a cancel was requested
        logs/stdout.log  logs/stderr.log  logs/supervisor.log
        data/<path>      symlinks to the mounts' sources
        results/         where the pipeline writes its results
    <home>/keys/<sha256 of key>   the run id launched with that key
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

QUEUED = "QUEUED"
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"
#: Native states a finished run can be in; nothing changes a run after these.
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})


def now() -> str:
    """The current UTC time as ISO 8601 text (what state.json stores)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_run_id() -> str:
    """A sortable, unique run id: UTC time to the second, then 8 random hex digits."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return f"{stamp}-{secrets.token_hex(4)}"


def is_run_id(text: str) -> bool:
    """True if ``text`` can name a run directory (no path tricks)."""
    return bool(text) and text not in (".", "..") and "/" not in text and "\0" not in text


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` so readers see either the old file or the new one, never half."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    """The JSON in ``path``, or None if the file does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class RunDir:
    """One run's directory and the files in it."""

    path: Path

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def state_file(self) -> Path:
        return self.path / "state.json"

    @property
    def launch_file(self) -> Path:
        return self.path / "launch.json"

    @property
    def spec_file(self) -> Path:
        return self.path / "spec.json"

    @property
    def pid_file(self) -> Path:
        return self.path / "supervisor.pid"

    @property
    def cancel_file(self) -> Path:
        return self.path / "cancel"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def data(self) -> Path:
        return self.path / "data"

    @property
    def results(self) -> Path:
        return self.path / "results"

    def state(self) -> dict[str, Any]:
        """The recorded state (``{"state": ...}`` plus timestamps, exit code, message)."""
        data = read_json(self.state_file)
        return data if isinstance(data, dict) else {"state": None}

    def update_state(self, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into state.json atomically; returns the new state.

        Only one process writes at a time by construction: the launcher before the
        supervisor starts, then the supervisor alone.
        """
        state = self.state()
        state.update(changes)
        write_json_atomic(self.state_file, state)
        return state

    def supervisor_pid(self) -> int | None:
        """The supervisor's pid once it has started, else None."""
        try:
            return int(self.pid_file.read_text(encoding="ascii").strip())
        except (FileNotFoundError, ValueError):
            return None

    def cancel_requested(self) -> bool:
        return self.cancel_file.exists()


def key_file(home: Path, key: str) -> Path:
    """Where the run launched with ``key`` is recorded (keys may hold any text)."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return home / "keys" / digest


def claim_key(home: Path, key: str, run_id: str) -> str | None:
    """Record that ``key`` launched ``run_id``, atomically and exclusively.

    Returns None if the claim succeeded, else the run id that already holds the key.
    """
    target = key_file(home, key)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".claim.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(run_id)
        try:
            os.link(tmp, target)  # fails if the key is taken; never half-written
        except FileExistsError:
            return target.read_text(encoding="ascii").strip()
        return None
    finally:
        os.unlink(tmp)


def tail(path: Path, limit: int = 400) -> str:
    """The last ``limit`` characters of a text file, on one line ('' if none)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit * 4))
            text = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    joined = " | ".join(lines[-5:])
    return joined[-limit:]
