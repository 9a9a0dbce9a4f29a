"""What moves: local files, platform files, upload targets, credentials, data assets.

Plain frozen dataclasses shared by the engine and the backends that implement
:class:`~runhub.transfer.contract.DataStore`. Anything holding a secret (temporary
credentials, a presigned URL's signature) masks it in its ``repr``, so a traceback,
a log line or a debugger never shows it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

#: Spec text (ICA ``createTemporaryCredentialsForData``): "The returned credentials
#: expire after 36 hours." The AWS form carries no expiry time, so runhub counts
#: from when it asked.
CREDENTIALS_LIFETIME = 36 * 3600.0


@dataclass(frozen=True, slots=True)
class LocalFile:
    """One file on this machine, with its content address once hashed."""

    path: Path
    #: The file's name under what was given: ``reads.fq`` for a file, ``sub/x.fq``
    #: for a file inside a given folder (always POSIX, never ``..``).
    name: str
    size: int
    mtime_ns: int
    sha256: str = ""
    md5: str = ""

    @property
    def hashed(self) -> bool:
        return bool(self.sha256)


@dataclass(frozen=True, slots=True)
class LocalTree:
    """What one local mount source holds: a file, or a folder's files."""

    source: str
    root: Path
    folder: bool
    files: tuple[LocalFile, ...]

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True, slots=True)
class Location:
    """A place on a platform: ``scope`` is the container (an ICA project id),
    ``path`` a path inside it (folders end with ``/``)."""

    backend: str
    scope: str
    path: str

    def __str__(self) -> str:
        return f"{self.backend}:{self.path}"


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """A file or folder on a platform, as its data listing describes it."""

    id: str
    path: str
    kind: Literal["file", "folder"] = "file"
    size: int | None = None
    #: The platform's own status text (ICA: PARTIAL, AVAILABLE, ARCHIVED, ...).
    status: str | None = None
    #: True when the data can be used (ICA: AVAILABLE).
    ready: bool = True
    #: The content address runhub recorded on it (``sha256`` hex), if any.
    sha256: str | None = None
    #: The storage's entity tag (S3: the MD5 hex for one-part objects).
    etag: str | None = None
    scope: str = ""

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable shape."""
        return {
            "id": self.id,
            "path": self.path,
            "kind": self.kind,
            "size": self.size,
            "status": self.status,
            "sha256": self.sha256,
        }


def _mask_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?***" if parts.query else "")


@dataclass(frozen=True, slots=True)
class PutTarget:
    """Upload by one HTTP PUT of the whole file to a presigned URL."""

    url: str = field(repr=False)
    #: Extra headers the URL was signed with (sent with the PUT).
    headers: tuple[tuple[str, str], ...] = ()

    def __repr__(self) -> str:
        return f"PutTarget({_mask_url(self.url)!r})"


@dataclass(frozen=True, slots=True)
class S3Credentials:
    """Temporary S3 credentials for one object or prefix (never shown in a repr)."""

    access_key: str = field(repr=False)
    secret_key: str = field(repr=False)
    session_token: str | None = field(repr=False)
    region: str
    bucket: str
    prefix: str
    #: Epoch seconds after which the platform stops honouring them.
    expires_at: float = field(default_factory=lambda: time.time() + CREDENTIALS_LIFETIME)
    #: S3 server-side encryption the platform asks for (``AES256``, ``aws:kms``).
    sse: str | None = None
    sse_kms_key: str | None = field(default=None, repr=False)

    def secrets(self) -> list[str]:
        """Every secret value, for redaction."""
        return [v for v in (self.access_key, self.secret_key, self.session_token) if v]

    def left(self, now: float | None = None) -> float:
        """Seconds until they expire."""
        return self.expires_at - (time.time() if now is None else now)


@dataclass(frozen=True, slots=True)
class S3Target:
    """Upload by S3 multipart to ``key`` with temporary credentials."""

    credentials: S3Credentials
    key: str


@dataclass(frozen=True, slots=True)
class Upload:
    """A file record the platform created (or reopened), and where its bytes go."""

    remote: RemoteFile
    target: PutTarget | S3Target


@dataclass(frozen=True, slots=True)
class FolderCredentials:
    """Temporary credentials for the user's own tools (``runhub data credentials``)."""

    location: str
    s3: S3Credentials | None
    #: rclone's config (key -> value) and the path prefix to use with it.
    rclone: dict[str, str] = field(default_factory=dict, repr=False)
    rclone_prefix: str | None = None
    expires_at: float | None = None

    def secrets(self) -> list[str]:
        found = self.s3.secrets() if self.s3 else []
        for key, value in self.rclone.items():
            if "key" in key or "token" in key or "secret" in key:
                found.append(value)
        return found


AssetState = Literal["pending", "ready", "failed"]


@dataclass(frozen=True, slots=True)
class DataAsset:
    """A platform data asset (Code Ocean): usable as a mount once ``ready``."""

    id: str
    name: str
    state: AssetState
    #: The platform's own state text (Code Ocean: draft, ready, failed).
    native: str | None = None
    mount: str | None = None
    #: The platform's explanation when ``failed`` (Code Ocean ``failure_reason``).
    reason: str | None = None
    size: int | None = None
    files: int | None = None
    #: The run the asset was made from, when the platform reports it.
    source_run: str | None = None
    tags: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable shape."""
        return {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "native": self.native,
            "mount": self.mount,
            "reason": self.reason,
            "size": self.size,
            "files": self.files,
            "source_run": self.source_run,
        }


@dataclass(frozen=True, slots=True)
class CaptureRequest:
    """What ``capture`` asks for: a data asset from a run's results."""

    name: str
    mount: str | None = None
    tags: tuple[str, ...] = ()
    #: A folder inside the results (None: all of them).
    path: str | None = None
    description: str | None = None
