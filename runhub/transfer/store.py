"""The transfer store: what runhub remembers about uploads between processes.

One SQLite file, ``RUNHUB_HOME/transfers.sqlite``, with three tables:

- ``hashes``: a file's checksums keyed on (path, size, mtime, inode), so a file is
  read for hashing once, not on every launch that mounts it;
- ``uploads``: one row per destination being uploaded, written *before* the first
  request that creates anything (the idempotency key of the create, then the data
  id, the multipart upload id and part size as soon as they exist);
- ``parts``: each completed part of a multipart upload, written as it completes.

A killed upload therefore resumes from its completed parts, and a crash between
"create the file record" and "record its id" replays the same idempotency key.
The store is runhub's own (not the ledger): it holds no run, only transfer state,
and a lost store costs at most re-sent bytes, never a wrong result, because S3's
own part listing is asked before resuming.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from runhub.config import runhub_home
from runhub.errors import ConfigError
from runhub.transfer.model import LocalFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER, inode INTEGER,
    sha256 TEXT, md5 TEXT
);
CREATE TABLE IF NOT EXISTS uploads (
    dest TEXT PRIMARY KEY, sha256 TEXT, size INTEGER, create_key TEXT,
    data_id TEXT, upload_id TEXT, object_key TEXT, part_size INTEGER, started REAL
);
CREATE TABLE IF NOT EXISTS parts (
    dest TEXT, number INTEGER, etag TEXT, size INTEGER, PRIMARY KEY (dest, number)
);
"""


@dataclass(frozen=True)
class UploadState:
    """What is known of one destination's upload in progress."""

    dest: str
    sha256: str
    size: int
    create_key: str
    data_id: str | None
    upload_id: str | None
    object_key: str | None
    part_size: int | None


class TransferStore:
    """Thread-safe access to ``transfers.sqlite`` (one connection, one lock)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or runhub_home() / "transfers.sqlite"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"cannot open the transfer store {self.path}: {exc}",
                hint="set RUNHUB_HOME to a folder you can write to",
            ) from None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- checksums -----------------------------------------------------------------

    def known_hash(self, item: LocalFile, inode: int) -> tuple[str, str] | None:
        """(sha256, md5) recorded for this exact file version, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT sha256, md5 FROM hashes WHERE path=? AND size=? AND mtime_ns=? AND inode=?",
                (str(item.path), item.size, item.mtime_ns, inode),
            ).fetchone()
        return (row[0], row[1] or "") if row else None

    def remember_hash(self, item: LocalFile, inode: int) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?, ?, ?)",
                (str(item.path), item.size, item.mtime_ns, inode, item.sha256, item.md5 or None),
            )

    # -- uploads -------------------------------------------------------------------

    def upload(self, dest: str, item: LocalFile) -> UploadState:
        """The destination's state, started afresh when absent or for other content."""
        with self._lock, self._db:
            row = self._db.execute(
                "SELECT dest, sha256, size, create_key, data_id, upload_id, object_key,"
                " part_size FROM uploads WHERE dest=?",
                (dest,),
            ).fetchone()
            if row is not None and (row[1], row[2]) == (item.sha256, item.size):
                return UploadState(*row)
            self._db.execute("DELETE FROM parts WHERE dest=?", (dest,))
            key = uuid.uuid4().hex
            self._db.execute(
                "INSERT OR REPLACE INTO uploads VALUES (?, ?, ?, ?, NULL, NULL, NULL, NULL, ?)",
                (dest, item.sha256, item.size, key, time.time()),
            )
        return UploadState(dest, item.sha256, item.size, key, None, None, None, None)

    def created(self, dest: str, data_id: str) -> None:
        """The platform's file record exists: its id."""
        with self._lock, self._db:
            self._db.execute("UPDATE uploads SET data_id=? WHERE dest=?", (data_id, dest))

    def multipart(self, dest: str, upload_id: str | None, key: str, part_size: int) -> None:
        """A multipart upload was opened (or dropped: ``upload_id`` None)."""
        with self._lock, self._db:
            self._db.execute(
                "UPDATE uploads SET upload_id=?, object_key=?, part_size=? WHERE dest=?",
                (upload_id, key, part_size, dest),
            )
            if upload_id is None:
                self._db.execute("DELETE FROM parts WHERE dest=?", (dest,))

    def part_done(self, dest: str, number: int, etag: str, size: int) -> None:
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?)", (dest, number, etag, size)
            )

    def parts(self, dest: str) -> dict[int, tuple[str, int]]:
        """Part number -> (etag, size) of the parts recorded as complete."""
        with self._lock:
            rows = self._db.execute(
                "SELECT number, etag, size FROM parts WHERE dest=?", (dest,)
            ).fetchall()
        return {n: (e, s) for n, e, s in rows}

    def finished(self, dest: str) -> None:
        """The upload is complete and verified: nothing to resume."""
        with self._lock, self._db:
            self._db.execute("DELETE FROM parts WHERE dest=?", (dest,))
            self._db.execute("DELETE FROM uploads WHERE dest=?", (dest,))

    def pending(self) -> list[UploadState]:
        """Every upload not finished (for ``runhub data`` to report)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT dest, sha256, size, create_key, data_id, upload_id, object_key,"
                " part_size FROM uploads ORDER BY started"
            ).fetchall()
        return [UploadState(*row) for row in rows]
