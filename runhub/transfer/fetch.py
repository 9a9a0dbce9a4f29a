"""Downloading one file from a URL: resumable, bounded, verified (the shared downloader).

``runhub data download`` and ``runhub outputs --download`` both fetch through here.
Each file is written to ``NAME.part`` and renamed only when complete and checked. A
``.part`` left by an interrupted download is continued with an HTTP Range request
where the server honours it (206) and started over where it does not (200).

What a platform may make runhub do is bounded:

- a download URL is followed only over ``https``, or ``http`` to this machine
  (loopback), redirects included (each hop checked); ``file:`` URLs only when the
  caller allows them (``Backend.serves_local_files``: files of this machine);
- a file never grows past its announced size (the listing's, else the server's
  ``Content-Length``/``Content-Range``); a server that sends more is cut off and the
  ``.part`` removed; one that sends less leaves a ``.part`` to resume;
- a name with a NUL or control character, a component the file system cannot hold
  (over 255 bytes), or a path leaving the download folder is refused.

The finished file is checked against the strongest checksum known for it: runhub's
SHA-256 (recorded when runhub uploaded it), else the storage's one-part MD5 ETag,
else its size; a mismatch removes the ``.part`` and is an error. URLs are fetched with
a plain client (no platform credentials); their query strings (signatures) never
appear in messages.
"""

from __future__ import annotations

import hashlib
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
#: The longest file or folder name most file systems hold (ext4, APFS, NTFS: 255).
NAME_MAX = 255
log = logging.getLogger("runhub.download")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MD5 = re.compile(r'^"?([0-9a-f]{32})"?$')
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


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
    """Where a file goes under ``root``; refuses paths that would leave it, and names
    no file system can hold."""
    shown = relative.encode("unicode_escape").decode("ascii")[:80]
    if _CONTROL.search(relative):
        raise SpecError(
            f"refusing output {shown!r}: its name holds a NUL or control character",
            hint="the platform listed a name no file can have; rename it there",
        )
    parts = PurePosixPath(relative).parts
    if not parts or any(p in ("..", "") for p in parts) or PurePosixPath(relative).is_absolute():
        raise SpecError(f"refusing to write output {relative!r} outside {root}")
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise SpecError(
                f"refusing output {shown}…: a name of {len(part)} characters"
                f" (the file system holds {NAME_MAX} bytes)",
                hint="rename it on the platform, or download it by hand",
            )
    return root.joinpath(*parts)


def short(url: str) -> str:
    """A URL without its query string (presigned signatures stay out of messages)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def check_url(url: str, *, allow_files: bool = False) -> str:
    """``url`` if runhub may follow it; raises PlatformError otherwise."""
    from runhub.config import is_loopback

    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "https" or (scheme == "http" and is_loopback(parts.hostname or "")):
        return url
    if scheme == "file" and allow_files:
        return url
    where = f"{scheme}:" if scheme else repr(url[:40])
    raise PlatformError(
        f"refusing to download from {where} ({short(url)}): downloads follow https,"
        " or http to this machine, only",
        hint="the platform gave an unexpected download URL; nothing was read or written",
    )


def complete(want: Wanted) -> bool:
    """True when the file is already there with its announced size."""
    dest = want.dest
    return dest.is_file() and want.size is not None and dest.stat().st_size == want.size


def fetch(
    want: Wanted,
    *,
    http: httpx.Client | None,
    allow_files: bool = False,
    progress: Callable[[int], None] = lambda n: None,
) -> Fetched:
    """Download one file (skipped when present, complete and matching)."""
    dest = want.dest
    if dest.is_dir():
        raise SpecError(f"{dest} is a folder, so the file {want.label} cannot be written there")
    if complete(want):
        how = verify(dest, want)
        if how is not None:
            progress(want.size or 0)
            return Fetched(dest, dest.stat().st_size, "skipped", how)
    url = check_url(want.url, allow_files=allow_files)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if urlsplit(url).scheme.lower() == "file":
        _copy(Path(unquote(urlsplit(url).path)), part, progress)
        action = "downloaded"
    else:
        if http is None:
            raise RunhubError("an HTTP client is needed for remote files")
        action = _get(http, url, part, want, progress)
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


def _announced(want: Wanted, response: httpx.Response, have: int) -> int | None:
    """The size the file will have when complete: the listing's, else the server's."""
    total = response.headers.get("content-range", "").rpartition("/")[2]
    length = response.headers.get("content-length", "")
    if response.status_code == 206 and total.isdigit():
        server = int(total)
    elif length.isdigit() and "content-encoding" not in response.headers:
        server = int(length) + (have if response.status_code == 206 else 0)
    else:
        server = None
    if want.size is not None and server is not None and server != want.size:
        raise PlatformError(
            f"{want.label}: the server announces {server} bytes, the listing {want.size}",
            hint="the file may have changed on the platform; run the command again",
        )
    return want.size if want.size is not None else server


def _get(
    http: httpx.Client, url: str, part: Path, want: Wanted, progress: Callable[[int], None]
) -> str:
    import httpx

    have = part.stat().st_size if part.exists() else 0
    if want.size is not None and have > want.size:
        part.unlink()
        have = 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        for _ in range(6):  # the URL, then up to 5 redirects, each checked like it
            started = time.monotonic()
            with http.stream("GET", url, headers=headers, follow_redirects=False) as response:
                log.info(
                    "GET %s%s -> %s (%d ms) [download]",
                    short(url),
                    f" ({headers['Range']})" if headers else "",
                    response.status_code,
                    (time.monotonic() - started) * 1000,
                )
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    url = check_url(str(response.url.join(response.headers["location"])))
                    continue
                return _body(response, url, part, want, have, progress)
    except httpx.HTTPError as exc:
        raise TransportError(
            f"download interrupted ({type(exc).__name__}) for {short(url)};"
            " run the command again to resume"
        ) from None
    raise PlatformError(f"too many redirects downloading {want.label} ({short(url)})")


def _body(
    response: httpx.Response,
    url: str,
    part: Path,
    want: Wanted,
    have: int,
    progress: Callable[[int], None],
) -> str:
    if response.status_code == 416 and have:  # the .part is already complete
        progress(have)
        return "resumed"
    if response.status_code >= 400:
        raise TransportError(f"download failed: HTTP {response.status_code} for {short(url)}")
    resumed = response.status_code == 206 and have > 0
    limit = _announced(want, response, have if resumed else 0)
    written = have if resumed else 0
    if resumed:
        progress(have)
    with part.open("ab" if resumed else "wb") as dst:
        for chunk in response.iter_bytes(CHUNK):
            if limit is not None and written + len(chunk) > limit:
                dst.close()
                part.unlink(missing_ok=True)  # its content cannot be trusted
                raise PlatformError(
                    f"{want.label}: the server sent more than the {limit} bytes"
                    " announced; stopped there and removed the partial file",
                    hint="the platform's file does not match its listing",
                )
            dst.write(chunk)
            written += len(chunk)
            progress(len(chunk))
    return "resumed" if resumed else "downloaded"
