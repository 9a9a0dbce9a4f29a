"""Downloading one file from a URL: resumable, bounded, verified.

Each file is written to ``NAME.part`` and renamed only when complete and checked.
A ``.part`` left by an interrupted download is continued with an HTTP Range request
where the server honours it (206) and started over where it does not (200). A body
longer than the size the platform announced is cut off (never written past it).
The finished file is then checked against the strongest checksum known for it:
runhub's SHA-256 (recorded when runhub uploaded it), else the storage's MD5 ETag,
else its size; a mismatch removes the ``.part`` and is an error.

URLs are fetched with a plain client (no platform credentials) and must be https,
except on loopback hosts (emulators); their query strings (signatures) never appear
in messages.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from runhub.errors import PlatformError, RunhubError, SpecError, TransportError

if TYPE_CHECKING:
    import httpx

CHUNK = 1 << 16
log = logging.getLogger("runhub.download")
_MD5 = re.compile(r'^"?([0-9a-f]{32})"?$')


@dataclass(frozen=True)
class Wanted:
    """One file to download: where from, where to, and what it should hold."""

    url: str
    dest: Path
    label: str
    size: int | None = None
    sha256: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class Fetched:
    """What happened to one file: ``downloaded``, ``resumed`` or ``skipped``; and
    how it was checked: ``sha256``, ``md5``, ``size`` or ``none``."""

    path: Path
    size: int
    action: str
    verified: str

    def to_dict(self) -> dict[str, object]:
        return {
            "path": str(self.path),
            "size": self.size,
            "action": self.action,
            "verified": self.verified,
        }


def target(root: Path, relative: str) -> Path:
    """Where a file goes under ``root``; refuses paths that would leave it."""
    parts = PurePosixPath(relative).parts
    if not parts or any(p in ("..", "") for p in parts) or PurePosixPath(relative).is_absolute():
        raise SpecError(f"refusing to write {relative!r} outside {root}")
    return root.joinpath(*parts)


def short(url: str) -> str:
    """A URL without its query string (presigned signatures stay out of messages)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def check_url(url: str) -> None:
    """https only, except ``file:`` and loopback hosts."""
    parts = urlsplit(url)
    if parts.scheme in ("https", "file"):
        return
    host = parts.hostname or ""
    if parts.scheme == "http" and _loopback(host):
        return
    raise PlatformError(f"refusing to download {short(url)}: only https URLs are fetched")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def fetch(
    want: Wanted,
    *,
    http: httpx.Client | None,
    progress: Callable[[int], None] = lambda n: None,
) -> Fetched:
    """Download one file (skipped when present, complete and matching)."""
    check_url(want.url)
    dest = want.dest
    if dest.is_dir():
        raise SpecError(f"{dest} is a folder, so the file {want.label} cannot be written there")
    if dest.is_file() and want.size is not None and dest.stat().st_size == want.size:
        how = verify(dest, want)
        if how is not None:
            progress(want.size)
            return Fetched(dest, want.size, "skipped", how)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if urlsplit(want.url).scheme == "file":
        _copy(Path(unquote(urlsplit(want.url).path)), part, progress)
        action = "downloaded"
    else:
        if http is None:
            raise RunhubError("an HTTP client is needed for remote files")
        action = _get(http, want, part, progress)
    size = part.stat().st_size
    if want.size is not None and size != want.size:
        raise TransportError(
            f"{want.label}: got {size} bytes, expected {want.size}; run the command again to resume"
        )
    how = verify(part, want)
    if how is None:
        part.unlink(missing_ok=True)
        raise PlatformError(
            f"{want.label}: the downloaded bytes do not match its checksum; the partial file was"
            " removed (run the command again to download it anew)"
        )
    part.replace(dest)
    return Fetched(dest, size, action, how)


def verify(path: Path, want: Wanted) -> str | None:
    """How ``path`` was found to match ``want`` (None: it does not)."""
    md5 = _MD5.match((want.etag or "").lower())
    if want.sha256 is None and md5 is None:
        return "size" if want.size is not None else "none"
    sha = hashlib.sha256() if want.sha256 else None
    md = hashlib.md5(usedforsecurity=False) if md5 is not None else None
    with path.open("rb") as handle:
        while chunk := handle.read(4 << 20):
            if sha is not None:
                sha.update(chunk)
            if md is not None:
                md.update(chunk)
    if sha is not None:
        return "sha256" if sha.hexdigest() == want.sha256 else None
    assert md is not None
    assert md5 is not None
    return "md5" if md.hexdigest() == md5.group(1) else None


def _copy(source: Path, part: Path, progress: Callable[[int], None]) -> None:
    with source.open("rb") as src, part.open("wb") as dst:
        while chunk := src.read(CHUNK):
            dst.write(chunk)
            progress(len(chunk))
    shutil.copystat(source, part)


def _get(http: httpx.Client, want: Wanted, part: Path, progress: Callable[[int], None]) -> str:
    import httpx

    url = want.url
    have = part.stat().st_size if part.exists() else 0
    if want.size is not None and have > want.size:
        part.unlink()
        have = 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        started = time.monotonic()
        with http.stream("GET", url, headers=headers) as response:
            log.info(
                "GET %s%s -> %s (%d ms) [download]",
                short(url),
                f" ({headers['Range']})" if headers else "",
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            if response.status_code == 416 and have:  # the .part is already complete
                progress(have)
                return "resumed"
            if response.status_code >= 400:
                raise TransportError(
                    f"download of {want.label} failed: HTTP {response.status_code} for {short(url)}"
                )
            resumed = response.status_code == 206 and have > 0
            written = have if resumed else 0
            if resumed:
                progress(have)
            with part.open("ab" if resumed else "wb") as dst:
                for chunk in response.iter_bytes(CHUNK):
                    if want.size is not None and written + len(chunk) > want.size:
                        raise PlatformError(
                            f"{want.label}: the server sent more than the {want.size} bytes"
                            " announced; stopped"
                        )
                    dst.write(chunk)
                    written += len(chunk)
                    progress(len(chunk))
    except httpx.HTTPError as exc:
        raise TransportError(
            f"download of {want.label} interrupted ({type(exc).__name__}) for {short(url)};"
            " run the command again to resume"
        ) from None
    return "resumed" if resumed else "downloaded"
