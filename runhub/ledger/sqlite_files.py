"""The SQLite ledger's file-level safety: errors named for users, and the mark.

Errors: every ``sqlite3.Error`` becomes one :class:`~runhub.errors.LedgerError`
line naming the file and what to do (disk full, unreadable, read-only, locked).

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
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from runhub.errors import LedgerError, LedgerLost

MARK_SUFFIX = ".seen"
_MARK_HEADER = "runhub-ledger-mark 1"


class Counts(NamedTuple):
    """A ledger's identity and what it has ever recorded."""

    ident: str
    written: int
    sent: int


def ledger_error(path: Path, error: sqlite3.Error, doing: str) -> LedgerError:
    """``error`` from SQLite as one line for users."""
    text = str(error) or type(error).__name__
    name = getattr(error, "sqlite_errorname", "")
    where = f"ledger {path}"
    if name.startswith(("SQLITE_FULL", "SQLITE_IOERR")) or "disk is full" in text:
        return LedgerError(
            f"{where}: cannot {doing} ({text}); free disk space and run the same command "
            "again: it picks up every run already launched"
        )
    if "locked" in text or name.startswith("SQLITE_BUSY"):
        return LedgerError(
            f"{where}: locked by another process for too long ({text}); try again when it ends"
        )
    if "readonly" in text or name.startswith("SQLITE_READONLY"):
        return LedgerError(
            f"{where}: read-only ({text}); make it writable, or set RUNHUB_HOME to a "
            "writable folder"
        )
    if name.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or "not a database" in text:
        return LedgerError(
            f"{where}: not a readable ledger ({text}); restore a backup, or move it aside "
            "(runhub then starts a new, empty one)"
        )
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in text:
        return LedgerError(f"{where}: cannot open ({text}); check RUNHUB_HOME")
    if "no such table" in text or "no such column" in text:
        return LedgerError(
            f"{where}: not a runhub ledger ({text}); move it aside or restore a backup"
        )
    return LedgerError(f"{where}: cannot {doing}: {text}")


@contextlib.contextmanager
def guarded(path: Path, doing: str) -> Iterator[None]:
    """Turn SQLite's errors inside the block into :class:`LedgerError`."""
    try:
        yield
    except sqlite3.Error as error:
        raise ledger_error(path, error, doing) from error
    except OSError as error:  # the folder itself (RUNHUB_HOME) cannot be used
        raise LedgerError(f"ledger {path}: cannot {doing}: {error}") from error


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
