"""Data in and out: local files uploaded as mounts, downloads, captured results.

The shared engine moves bytes (parallel across files, S3 multipart parts in
parallel and resumable, checksums verified, progress reported); each platform
supplies its side as sans-IO exchanges (:class:`DataStore`, :class:`Captures`), and
the flows (:mod:`runhub.transfer.flow`) tie the two together once for the sync and
the async client. Plugins use the types and the local-path rule named here.
"""

from __future__ import annotations

from runhub.transfer.contract import Captures, DataStore
from runhub.transfer.local import examine, is_local, local_mounts, local_path
from runhub.transfer.model import (
    CREDENTIALS_LIFETIME,
    CaptureRequest,
    DataAsset,
    FolderCredentials,
    LocalFile,
    LocalTree,
    Location,
    PutTarget,
    RemoteFile,
    S3Credentials,
    S3Target,
    Upload,
)
from runhub.transfer.progress import Progress, Tally

__all__ = [
    "CREDENTIALS_LIFETIME",
    "CaptureRequest",
    "Captures",
    "DataAsset",
    "DataStore",
    "FolderCredentials",
    "LocalFile",
    "LocalTree",
    "Location",
    "Progress",
    "PutTarget",
    "RemoteFile",
    "S3Credentials",
    "S3Target",
    "Tally",
    "Upload",
    "examine",
    "is_local",
    "local_mounts",
    "local_path",
]
