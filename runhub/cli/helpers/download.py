"""Downloading run outputs (``runhub outputs --download``) with the shared downloader.

The bytes are fetched by :mod:`runhub.transfer.fetch`, the same code as
``runhub data download``; this module keeps the outputs command's shapes
(``Outcome``, ``fetch_all`` with per-file signing). The rules, kept there:

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
- the finished file is checked against the strongest checksum the platform
  reports (``Output.sha256``, else a one-part MD5 ``Output.etag``), else its size;
  a file already there is skipped only when it passes the same check;
- a name with a NUL or control character, or a path component the file system
  cannot hold (over 255 bytes), is refused with one line, as is a path leaving the
  download folder.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runhub.errors import RunhubError
from runhub.transfer.fetch import NAME_MAX, Wanted, check_url, complete, target, verify
from runhub.transfer.fetch import fetch as fetch_one

if TYPE_CHECKING:
    import httpx

    from runhub.backend import Output


@dataclass
class Outcome:
    """What happened to one file."""

    path: Path
    size: int
    action: str  # downloaded | resumed | skipped
    verified: str = "size"  # sha256 | md5 | size | none: how the bytes were checked


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
        present = _wanted(out, dest)
        how = verify(dest, present) if complete(present) else None
        if how is not None:  # checked before a URL is signed for it
            progress(out.size or 0)
            done.append(Outcome(dest, dest.stat().st_size, "skipped", how))
            continue
        signed = url_for(out) if url_for is not None else out
        if not signed.url:
            raise RunhubError(f"no download URL for {out.path}")
        client = http() if callable(http) else http
        done.append(fetch(signed, dest, http=client, allow_files=allow_files, progress=progress))
    return done


def _wanted(out: Output, dest: Path) -> Wanted:
    return Wanted(out.url or "", dest, out.path, out.size, out.sha256, out.etag)


def fetch(
    out: Output,
    dest: Path,
    *,
    http: httpx.Client | None,
    allow_files: bool = False,
    progress: Callable[[int], None] = lambda n: None,
) -> Outcome:
    """One file: skipped if present and matching, else (re)downloaded and checked."""
    assert out.url is not None
    got = fetch_one(_wanted(out, dest), http=http, allow_files=allow_files, progress=progress)
    return Outcome(got.path, got.size, got.action, got.verified)


__all__ = ["NAME_MAX", "Outcome", "check_url", "fetch", "fetch_all", "target"]
