"""The SQLite ledger's file-level safety: errors named for users, and the mark.

Errors: every ``sqlite3.Error`` becomes one :class:`~runhub.errors.LedgerError`
line naming the file and what to do (disk full, unreadable, read-only, locked).
Where SQLite reports a lock without waiting for it, :func:`until_unlocked` waits.

The mark (``ledger.sqlite.seen``, beside the ledger) holds the ledger's identity
and how many launches and sends it has ever recorded. It is written after each
commit that adds either, so it never claims more than the file holds; a ledger
that holds less than its mark says (truncated, replaced, restored from an older
copy, cut from its ``-wal`` file) has lost launches, and launching from it is
refused: a row whose send was lost would be sent again.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

from runhub.errors import LedgerError, LedgerLost

MARK_SUFFIX = ".seen"
_MARK_HEADER = "runhub-ledger-mark 1"


def until_unlocked(statement: Callable[[], object], timeout: float) -> None:
    """Run ``statement``, again while SQLite says the file is locked, for up to
    ``timeout`` seconds. Switching a new file to WAL needs its exclusive lock, and
    when several processes open a fresh ledger at once SQLite answers "database is
    locked" at once, without its busy handler (waiting could deadlock), so two
    ``runhub`` commands started together on a new machine failed."""
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


class Counts(NamedTuple):
    """A ledger's identity and what it has ever recorded."""

    ident: str
    written: int
    sent: int


#: (words in SQLite's message or error name, what it means, what to do); the same
#: wording as runhub.cli.helpers.ledgerfail, which catches what escapes the store.
_CASES = (
    (
        ("disk is full", "sqlite_full", "sqlite_ioerr_write", "sqlite_ioerr_fsync"),
        "cannot be written: no room left on the disk",
        "free disk space and run the same command again: it picks up every run already launched",
    ),
    (
        ("file is not a database", "malformed", "not a database", "sqlite_notadb"),
        "is damaged or not a SQLite file",
        "restore it from a backup; moving it aside makes runhub forget the launches it"
        " recorded (the runs keep running on their platform)",
    ),
    (
        ("readonly", "read-only"),
        "is read-only",
        "make it (and its folder) writable, or set RUNHUB_HOME to a folder you can write",
    ),
    (
        ("locked", "busy"),
        "is locked by another process past the busy timeout",
        "wait for the other runhub command to end, then run this one again",
    ),
    (
        ("no such table", "no such column"),
        "lacks runhub's tables (not a runhub ledger, or one cut short)",
        "restore it from a backup, or set RUNHUB_HOME to another folder",
    ),
    (
        ("unable to open", "disk i/o error", "permission", "authorization"),
        "cannot be opened or read",
        "check that RUNHUB_HOME is a folder you can read and write",
    ),
)


def ledger_error(path: Path, error: sqlite3.Error, doing: str) -> LedgerError:
    """``error`` from SQLite as one line for users: the file, what is wrong, what to do."""
    text = str(error) or type(error).__name__
    said = f"{text} {getattr(error, 'sqlite_errorname', '')}".lower()
    if "unable to open" in said and _read_only(path):
        # SQLite cannot create the -wal/-shm files beside a ledger it may not write.
        said += " read-only"
    for words, meaning, todo in _CASES:
        if any(word in said for word in words):
            return LedgerError(f"the ledger {path} {meaning} ({text}; could not {doing}): {todo}")
    return LedgerError(
        f"the ledger {path} cannot be used ({text}; could not {doing}): check RUNHUB_HOME, or "
        "move the file aside"
    )


def _read_only(path: Path) -> bool:
    """True if the ledger exists but it, or its folder, may not be written."""
    return path.exists() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


@contextlib.contextmanager
def guarded(path: Path, doing: str) -> Iterator[None]:
    """Turn SQLite's errors inside the block into :class:`LedgerError`."""
    try:
        yield
    except sqlite3.Error as error:
        raise ledger_error(path, error, doing) from error
    except OSError as error:  # the folder itself (RUNHUB_HOME) cannot be used
        raise LedgerError(
            f"the ledger {path} cannot be opened or read ({error}; could not {doing}): check that "
            "RUNHUB_HOME is a folder you can read and write"
        ) from error


def mark_path(path: Path) -> Path:
    """Where the mark of the ledger at ``path`` lives."""
    return path.with_name(path.name + MARK_SUFFIX)


def _parse(text: str) -> Counts | None:
    lines = text.splitlines()
    parts = lines[1].split() if len(lines) >= 2 and lines[0] == _MARK_HEADER else []
    if len(parts) != 3 or not (parts[1].isdigit() and parts[2].isdigit()):
        return None
    return Counts(parts[0], int(parts[1]), int(parts[2]))


def read_mark(path: Path) -> Counts | None:
    """What the mark says the ledger at ``path`` once held, or None."""
    try:
        return _parse(mark_path(path).read_text())
    except (OSError, UnicodeDecodeError):
        return None


class Mark:
    """The mark of one ledger, kept open: raising it costs one read and one write
    (a fixed-width record rewritten in place; no fsync, like the ledger's commits)."""

    def __init__(self, path: Path) -> None:
        self.path = mark_path(path)
        self._fd: int | None = None

    def raise_to(self, now: Counts) -> None:
        """Raise the mark to ``now`` (never lower it; best effort)."""
        with contextlib.suppress(OSError, UnicodeDecodeError):
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            seen = _parse(os.pread(self._fd, 512, 0).decode())
            if seen is not None and seen.ident == now.ident:
                if seen.written >= now.written and seen.sent >= now.sent:
                    return
                now = Counts(now.ident, max(now.written, seen.written), max(now.sent, seen.sent))
            record = f"{_MARK_HEADER}\n{now.ident} {now.written:020d} {now.sent:020d}\n"
            os.pwrite(self._fd, record.encode(), 0)

    def close(self) -> None:
        """Release the file."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


def check_mark(path: Path, now: Counts) -> None:
    """LedgerLost if the ledger holds less than its mark says it once did."""
    seen = read_mark(path)
    if seen is None:
        return
    if seen.ident == now.ident and seen.written <= now.written and seen.sent <= now.sent:
        return
    if seen.ident != now.ident:
        what = f"a different ledger ({now.written} launches) where one with {seen.written} was"
    else:
        what = (
            f"missing {seen.written - now.written} of the launches and "
            f"{seen.sent - now.sent} of the sends it had recorded"
        )
    raise LedgerLost(
        f"ledger {path} has lost launches: it is {what} (replaced, truncated, cut from its "
        "-wal file or restored from an older copy); launching now could start runs a second "
        f"time. Restore the newest copy of it, or, to carry on with it as it is, delete "
        f"{mark_path(path)}"
    )
