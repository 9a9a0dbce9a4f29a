"""One line for a ledger that cannot be used, instead of a traceback.

The ledger (``RUNHUB_HOME/ledger.sqlite``) is opened by whichever command needs it;
whatever SQLite says about it reaches :func:`problem`, which names the file and
what to do. sqlite3 is looked up in ``sys.modules`` only: a command that never
opened the ledger never imports it here.
"""

from __future__ import annotations

import sys

#: (words in SQLite's message, what it means, what to do)
_CASES = (
    (
        ("file is not a database", "malformed", "not a database"),
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


def problem(error: BaseException) -> str | None:
    """The one-line message for a ledger failure, or None if ``error`` is not one."""
    from runhub.config import runhub_home

    path = runhub_home() / "ledger.sqlite"
    text = str(error)
    if isinstance(error, RuntimeError) and text.startswith("the ledger schema"):
        return f"{path}: {text}"  # written by a newer runhub
    sqlite3 = sys.modules.get("sqlite3")
    if sqlite3 is None or not isinstance(error, sqlite3.Error):
        return None
    lowered = text.lower()
    for words, meaning, todo in _CASES:
        if any(word in lowered for word in words):
            return f"the ledger {path} {meaning} ({text}): {todo}"
    return f"the ledger {path} cannot be used ({text}): check RUNHUB_HOME, or move the file aside"
