"""Downloading run outputs: resumable, skipping what is already there.

Each file is written to ``NAME.part`` and renamed when complete. A ``.part`` left by
an interrupted download is continued with an HTTP Range request where the server
honours it (206), and started over where it does not (200). Presigned URLs are
fetched with a plain client: platform credentials never leave with them.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from runhub.errors import RunhubError, SpecError, TransportError

if TYPE_CHECKING:
    import httpx

    from runhub.backend import Output

CHUNK = 1 << 16
log = logging.getLogger("runhub.download")


@dataclass
class Outcome:
    """What happened to one file."""

    path: Path
    size: int
    action: str  # downloaded | resumed | skipped


def target(root: Path, relative: str) -> Path:
    """Where an output goes under ``root``; refuses paths that would leave it."""
    parts = PurePosixPath(relative).parts
    if not parts or any(p in ("..", "") for p in parts) or PurePosixPath(relative).is_absolute():
        raise SpecError(f"refusing to write output {relative!r} outside {root}")
    return root.joinpath(*parts)


def fetch_all(
    outputs: Sequence[Output],
    root: Path,
    *,
    http: httpx.Client | None,
    progress: Callable[[int], None] = lambda n: None,
) -> list[Outcome]:
    """Download every file output (with ``url`` set) under ``root``."""
    done = []
    for out in outputs:
        if out.kind != "file":
            continue
        if not out.url:
            raise RunhubError(f"no download URL for {out.path}")
        done.append(fetch(out, target(root, out.path), http=http, progress=progress))
    return done


def fetch(
    out: Output,
    dest: Path,
    *,
    http: httpx.Client | None,
    progress: Callable[[int], None] = lambda n: None,
) -> Outcome:
    """One file: skipped if present with the expected size, else (re)downloaded."""
    assert out.url is not None
    if dest.is_file() and out.size is not None and dest.stat().st_size == out.size:
        progress(out.size)
        return Outcome(dest, out.size, "skipped")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if urlsplit(out.url).scheme == "file":
        _copy(Path(unquote(urlsplit(out.url).path)), part, progress)
        action = "downloaded"
    else:
        if http is None:
            raise RunhubError("an HTTP client is needed for remote outputs")
        action = _get(http, out.url, part, progress)
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


def _get(http: httpx.Client, url: str, part: Path, progress: Callable[[int], None]) -> str:
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
            if resumed:
                progress(have)
            with part.open("ab" if resumed else "wb") as dst:
                for chunk in response.iter_bytes(CHUNK):
                    dst.write(chunk)
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
