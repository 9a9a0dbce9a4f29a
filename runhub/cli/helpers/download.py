"""Downloading run outputs: resumable, skipping what is already there, bounded.

Each file is written to ``NAME.part`` and renamed when complete. A ``.part`` left by
an interrupted download is continued with an HTTP Range request where the server
honours it (206), and started over where it does not (200). Presigned URLs are
fetched with a plain client: platform credentials never leave with them.

What a platform may make runhub do is bounded:

- a download URL is followed only over ``https``, or ``http`` to this machine
  (loopback), redirects included; ``file:`` URLs only from a backend whose files
  are this machine's (``Backend.serves_local_files``: the local backend, a WES
  server on loopback). Anything else is refused;
- a file never grows past its announced size (the listing's size, else the
  ``Content-Length``); a server that sends more is cut off, and one that sends
  less leaves a ``.part`` to resume;
- a name with a NUL or control character, or a path component the file system
  cannot hold (over 255 bytes), is refused with one line, as is a path leaving the
  download folder.
"""

from __future__ import annotations

import logging
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from runhub.errors import PlatformError, RunhubError, SpecError, TransportError

if TYPE_CHECKING:
    import httpx

    from runhub.backend import Output

CHUNK = 1 << 16
#: The longest file or folder name most file systems hold (ext4, APFS, NTFS: 255).
NAME_MAX = 255
log = logging.getLogger("runhub.download")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Outcome:
    """What happened to one file."""

    path: Path
    size: int
    action: str  # downloaded | resumed | skipped


def target(root: Path, relative: str) -> Path:
    """Where an output goes under ``root``; refuses paths that would leave it, and
    names no file system can hold."""
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
        f"refusing to download from {where} ({_short(url)}): downloads follow https,"
        " or http to this machine, only",
        hint="the platform gave an unexpected download URL; nothing was read or written",
    )


def fetch_all(
    outputs: Sequence[Output],
    root: Path,
    *,
    http: Callable[[], httpx.Client] | httpx.Client | None,
    url_for: Callable[[Output], Output] | None = None,
    allow_files: bool = False,
    progress: Callable[[int], None] = lambda n: None,
) -> list[Outcome]:
    """Download every file output under ``root``. ``url_for`` signs one output just
    before its download (signed URLs expire); without it, outputs carry ``url``."""
    done = []
    for out in outputs:
        if out.kind != "file":
            continue
        dest = target(root, out.path)
        if _complete(out, dest):
            progress(out.size or 0)
            done.append(Outcome(dest, dest.stat().st_size, "skipped"))
            continue
        signed = url_for(out) if url_for is not None else out
        if not signed.url:
            raise RunhubError(f"no download URL for {out.path}")
        client = http() if callable(http) else http
        done.append(fetch(signed, dest, http=client, allow_files=allow_files, progress=progress))
    return done


def _complete(out: Output, dest: Path) -> bool:
    return dest.is_file() and out.size is not None and dest.stat().st_size == out.size


def fetch(
    out: Output,
    dest: Path,
    *,
    http: httpx.Client | None,
    allow_files: bool = False,
    progress: Callable[[int], None] = lambda n: None,
) -> Outcome:
    """One file: skipped if present with the expected size, else (re)downloaded."""
    assert out.url is not None
    if _complete(out, dest):
        progress(out.size or 0)
        return Outcome(dest, dest.stat().st_size, "skipped")
    url = check_url(out.url, allow_files=allow_files)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if urlsplit(url).scheme.lower() == "file":
        _copy(Path(unquote(urlsplit(url).path)), part, progress)
        action = "downloaded"
    else:
        if http is None:
            raise RunhubError("an HTTP client is needed for remote outputs")
        action = _get(http, url, part, out, progress)
    size = part.stat().st_size
    if out.size is not None and size != out.size:
        raise TransportError(
            f"{out.path}: got {size} bytes, expected {out.size}; run the command again to resume"
        )
    part.replace(dest)
    return Outcome(dest, size, action)


def _copy(source: Path, part: Path, progress: Callable[[int], None]) -> None:
    with source.open("rb") as src, part.open("wb") as dst:
        while chunk := src.read(CHUNK):
            dst.write(chunk)
            progress(len(chunk))
    shutil.copystat(source, part)


def _announced(out: Output, response: httpx.Response, have: int) -> int | None:
    """The size the file will have when complete: the listing's, else the server's."""
    total = response.headers.get("content-range", "").rpartition("/")[2]
    length = response.headers.get("content-length", "")
    if response.status_code == 206 and total.isdigit():
        server = int(total)
    elif length.isdigit() and "content-encoding" not in response.headers:
        server = int(length) + (have if response.status_code == 206 else 0)
    else:
        server = None
    if out.size is not None and server is not None and server != out.size:
        raise PlatformError(
            f"{out.path}: the server announces {server} bytes, the listing {out.size}",
            hint="the file may have changed on the platform; run the command again",
        )
    return out.size if out.size is not None else server


def _get(
    http: httpx.Client, url: str, part: Path, out: Output, progress: Callable[[int], None]
) -> str:
    import httpx

    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        started = time.monotonic()
        with http.stream("GET", url, headers=headers) as response:
            log.info(
                "GET %s%s -> %s (%d ms) [download]",
                _short(url),
                f" ({headers['Range']})" if headers else "",
                response.status_code,
                (time.monotonic() - started) * 1000,
            )
            if response.status_code == 416 and have:  # the .part is already complete
                progress(have)
                return "resumed"
            if response.status_code >= 400:
                raise TransportError(
                    f"download failed: HTTP {response.status_code} for {_short(url)}"
                )
            resumed = response.status_code == 206 and have > 0
            limit = _announced(out, response, have if resumed else 0)
            written = have if resumed else 0
            if resumed:
                progress(have)
            with part.open("ab" if resumed else "wb") as dst:
                for chunk in response.iter_bytes(CHUNK):
                    if limit is not None and written + len(chunk) > limit:
                        part.unlink(missing_ok=True)  # its content cannot be trusted
                        raise PlatformError(
                            f"{out.path}: the server sent more than the {limit} bytes"
                            " announced; stopped there and removed the partial file",
                            hint="the platform's file does not match its listing",
                        )
                    dst.write(chunk)
                    written += len(chunk)
                    progress(len(chunk))
    except httpx.HTTPError as exc:
        raise TransportError(
            f"download interrupted ({type(exc).__name__}) for {_short(url)};"
            " run the command again to resume"
        ) from None
    return "resumed" if resumed else "downloaded"


def _short(url: str) -> str:
    """A URL without its query string (presigned signatures stay out of messages)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
