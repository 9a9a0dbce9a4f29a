"""Progress of a transfer: what the engine reports, and a counter that keeps it.

The engine calls a :class:`Progress` from worker threads; implementations must be
thread-safe. :class:`Tally` counts (tests, benchmarks and ``-o json`` summaries read
it); the CLI draws bars from the same calls. Bytes are counted once each: bytes
``sent`` crossed the network in this process, bytes ``skipped`` were already there
(found by checksum, or parts a resumed upload did not need to send again).
"""

from __future__ import annotations

import threading
from typing import Protocol


class Progress(Protocol):
    """What a transfer reports as it goes."""

    def begin(self, phase: str, files: int, total: int) -> None:
        """A phase starts (``hashing``, ``uploading``, ``downloading``)."""

    def sent(self, nbytes: int) -> None:
        """``nbytes`` more went over the network (or were hashed, when hashing)."""

    def skipped(self, nbytes: int) -> None:
        """``nbytes`` of the phase's total needed no transfer."""

    def file_done(self, name: str) -> None:
        """One more file finished."""

    def end(self) -> None:
        """The phase is over."""


class Tally:
    """A thread-safe :class:`Progress` that only counts, per phase."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.phase = ""
        self.bytes_sent: dict[str, int] = {}
        self.bytes_skipped: dict[str, int] = {}
        self.files_done: dict[str, int] = {}
        self.totals: dict[str, tuple[int, int]] = {}

    def begin(self, phase: str, files: int, total: int) -> None:
        with self._lock:
            self.phase = phase
            self.totals[phase] = (files, total)

    def sent(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_sent[self.phase] = self.bytes_sent.get(self.phase, 0) + nbytes

    def skipped(self, nbytes: int) -> None:
        with self._lock:
            self.bytes_skipped[self.phase] = self.bytes_skipped.get(self.phase, 0) + nbytes

    def file_done(self, name: str) -> None:
        with self._lock:
            self.files_done[self.phase] = self.files_done.get(self.phase, 0) + 1

    def end(self) -> None:
        return None

    def sent_in(self, phase: str) -> int:
        with self._lock:
            return self.bytes_sent.get(phase, 0)


class Both:
    """Report to two progress sinks (a bar and a tally)."""

    def __init__(self, first: Progress, second: Progress) -> None:
        self.first = first
        self.second = second

    def begin(self, phase: str, files: int, total: int) -> None:
        self.first.begin(phase, files, total)
        self.second.begin(phase, files, total)

    def sent(self, nbytes: int) -> None:
        self.first.sent(nbytes)
        self.second.sent(nbytes)

    def skipped(self, nbytes: int) -> None:
        self.first.skipped(nbytes)
        self.second.skipped(nbytes)

    def file_done(self, name: str) -> None:
        self.first.file_done(name)
        self.second.file_done(name)

    def end(self) -> None:
        self.first.end()
        self.second.end()
