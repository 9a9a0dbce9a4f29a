"""What a backend offers for moving data: :class:`DataStore` (and :class:`Captures`).

A backend that can take local files as mounts sets ``Capabilities.stage`` and
returns a DataStore from ``Backend.data()``. Every method that talks to the platform
is an *exchange* (sans-IO: it yields requests, the client's driver sends them); the
bytes themselves are the engine's job (:mod:`runhub.transfer.engine`), and waiting
for a file to become usable is the flow's (:mod:`runhub.transfer.stage`): a DataStore
never sleeps and never moves file content.

Content addressing: ``find`` looks up a file by the SHA-256 recorded on it by
``seal``, so the same bytes are found wherever and by whomever they were uploaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from runhub.backend import Exchange
    from runhub.ref import RunRef
    from runhub.spec import RunSpec
    from runhub.transfer.model import (
        CaptureRequest,
        DataAsset,
        FolderCredentials,
        LocalFile,
        Location,
        RemoteFile,
        S3Credentials,
        Upload,
    )


class DataStore(Protocol):
    """One platform's data operations (see the module docstring)."""

    #: Files of at least this many bytes go by S3 multipart, smaller ones by one PUT.
    multipart_threshold: int
    #: Preferred S3 part size, and parts in flight per file.
    part_size: int
    part_concurrency: int
    #: What to install for S3 multipart (shown when boto3 is missing).
    s3_install: str

    # -- offline -----------------------------------------------------------------

    def staging(self, spec: RunSpec | None) -> Location:
        """Where local mounts of ``spec`` are uploaded (no I/O)."""
        ...

    def location(self, text: str) -> Location:
        """A user's ``PATH`` (or data id) as a Location; SpecError if malformed."""
        ...

    # -- exchanges ---------------------------------------------------------------

    def find(self, where: Location, item: LocalFile) -> Exchange[RemoteFile | None]:
        """A usable file anywhere in ``where.scope`` with ``item``'s checksum and size."""
        ...

    def lookup(self, where: Location, path: str) -> Exchange[RemoteFile | None]:
        """What is at ``path`` (a file, a folder, or nothing)."""
        ...

    def resolve(self, where: Location) -> Exchange[RemoteFile]:
        """The file or folder ``where`` names (a path or an id); NotFound if none."""
        ...

    def create(
        self, where: Location, path: str, item: LocalFile, *, multipart: bool, key: str
    ) -> Exchange[Upload]:
        """Create the file record at ``path`` and say where its bytes go. ``key`` is
        the create's idempotency key (stable across retries and crashes)."""
        ...

    def reopen(self, remote: RemoteFile, item: LocalFile, *, multipart: bool) -> Exchange[Upload]:
        """A new URL or credentials for an existing, not yet usable file (which the
        upload then overwrites)."""
        ...

    def renew(self, remote: RemoteFile) -> Exchange[S3Credentials]:
        """Fresh temporary credentials for a multipart upload in progress."""
        ...

    def refresh(self, remote: RemoteFile) -> Exchange[RemoteFile]:
        """The file's current state (status, size, checksum)."""
        ...

    def seal(self, remote: RemoteFile, item: LocalFile) -> Exchange[RemoteFile]:
        """Record ``item``'s content address on the uploaded, usable file."""
        ...

    def listing(self, where: Location, *, recursive: bool) -> Exchange[list[RemoteFile]]:
        """The files and folders under a folder (everything below when recursive)."""
        ...

    def download_urls(
        self, where: Location, files: Sequence[RemoteFile]
    ) -> Exchange[list[str | None]]:
        """A download URL per file, in order (None where the platform gave none)."""
        ...

    def credentials(self, where: Location, *, read_only: bool) -> Exchange[FolderCredentials]:
        """Temporary credentials for the user's own tools, for a folder or file."""
        ...


class Captures(Protocol):
    """A platform that keeps a run's results as a data asset (Code Ocean)."""

    def capture(self, ref: RunRef, request: CaptureRequest) -> Exchange[DataAsset]:
        """Create the data asset from ``ref``'s results, or return the one an earlier
        capture of the same run made (idempotent)."""
        ...

    def asset(self, asset_id: str) -> Exchange[DataAsset]:
        """The data asset's current state."""
        ...
