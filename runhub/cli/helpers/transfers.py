"""Transfer progress on a terminal: bytes, rate, ETA, files done/total.

:class:`Bars` is a :class:`~runhub.transfer.progress.Progress` that draws a rich bar
on stderr, created only when a transfer actually starts (a launch without local
mounts draws nothing) and only when stderr is a terminal. :func:`shown` attaches it
to a client's engine for the length of a command.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

_LABELS = {"hashing": "checksums", "uploading": "uploading", "downloading": "downloading"}


class Bars:
    """A rich progress bar per transfer phase (thread-safe), drawn on ``console``
    (default: a rich Console on stderr)."""

    def __init__(self, console: Any = None) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._bar: Any = None
        self._task: Any = None
        self._files = (0, 0)

    def begin(self, phase: str, files: int, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        with self._lock:
            if self._bar is None:
                self._bar = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    TimeRemainingColumn(),
                    TextColumn("{task.fields[files]}"),
                    console=self._console or Console(stderr=True),
                    transient=True,
                )
                self._bar.start()
            self._files = (0, files)
            self._task = self._bar.add_task(
                _LABELS.get(phase, phase), total=total or None, files=f"0/{files} files"
            )

    def sent(self, nbytes: int) -> None:
        with self._lock:
            if self._task is not None:
                self._bar.advance(self._task, nbytes)

    def skipped(self, nbytes: int) -> None:
        self.sent(nbytes)

    def file_done(self, name: str) -> None:
        with self._lock:
            if self._task is None:
                return
            done, total = self._files[0] + 1, self._files[1]
            self._files = (done, total)
            self._bar.update(self._task, files=f"{done}/{total} files")

    def end(self) -> None:
        with self._lock:
            if self._task is not None:
                self._bar.remove_task(self._task)
                self._task = None

    def close(self) -> None:
        with self._lock:
            if self._bar is not None:
                self._bar.stop()
                self._bar = None


def wanted(quiet: bool = False) -> bool:
    """Bars are drawn on a terminal, unless asked to be quiet."""
    from runhub.cli.helpers.live import fancy

    return not quiet and sys.stderr.isatty() and fancy()


@contextlib.contextmanager
def shown(client: Any, *, enabled: bool) -> Iterator[None]:
    """Draw the client's transfers while the block runs (when ``enabled``)."""
    if not enabled or not wanted():
        yield
        return
    from runhub.transfer.progress import Both

    engine = client.engine()
    bars = Bars()
    before = engine.progress
    engine.progress = Both(bars, engine.tally)
    try:
        yield
    finally:
        engine.progress = before
        bars.close()
