"""How an earlier step's outputs reach a later step, across backends.

Where data can move, and how (decided at validation, before anything runs):

- within one backend that captures (Code Ocean): the run's results become a data
  asset (``runhub capture``), mounted; mounts only;
- within any other one backend (ICA, local): the outputs' own ids (ICA data ids,
  local paths), as mounts or parameter values;
- from a backend that serves downloads (ICA, Code Ocean) to local: downloaded
  into ``RUNHUB_HOME/chains/…``, as mounts or parameter values;
- from local to a backend that stages (ICA): uploaded at launch
  (``runhub.transfer``); mounts only.

Anything else is a validation error. Matching happens when the step is due: a
glob that matches nothing makes the step fail to launch (:class:`NoMatch`).
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Literal

from runhub.errors import RunhubError

if TYPE_CHECKING:
    from runhub.aio import AsyncClient
    from runhub.backend import Backend, Output
    from runhub.chain.model import StepInput
    from runhub.ref import RunRef

Route = Literal["ids", "capture", "download", "upload"]
LOCAL = "local"


class NoMatch(RunhubError):
    """An input's glob matched none of the earlier step's outputs."""

    exit_code = 1


def route(source: Backend, target: Backend, into: str) -> tuple[Route | None, str | None]:
    """How outputs of ``source`` reach a ``target`` run as ``into`` ("mount" or
    "parameter"): the route, or None and why not with what to do instead."""
    if source.name == target.name:
        if source.capabilities.capture:
            if into == "parameter":
                return None, (
                    f"{source.name} runs read earlier results through a mounted data asset:"
                    " use mount, not parameter"
                )
            return "capture", None
        return "ids", None
    if target.name == LOCAL and source.capabilities.download:
        return "download", None
    if source.name == LOCAL and target.capabilities.stage:
        if into == "parameter":
            return None, (
                f"local outputs reach {target.name} as uploaded mounts only: use mount, not"
                " parameter"
            )
        return "upload", None
    return None, (
        f"outputs of {source.name} cannot reach a {target.name} run (data moves within one"
        " platform, from ICA or Code Ocean to local by download, and from local to a platform"
        " that takes uploads)"
    )


def matching(outputs: Sequence[Output], pattern: str) -> list[Output]:
    """Outputs whose name (whole path, when ``pattern`` holds a ``/``) matches the
    glob; files only, unless the pattern ends with ``/`` (folders)."""
    folders = pattern.endswith("/")
    glob = pattern.rstrip("/")
    found = []
    for out in outputs:
        if (out.kind == "folder") != folders:
            continue
        path = out.path.rstrip("/")
        subject = path if "/" in glob else PurePosixPath(path).name
        if fnmatch.fnmatchcase(subject, glob):
            found.append(out)
    return found


@dataclass(frozen=True)
class Fed:
    """What one input puts into the step's spec: mounts, or a parameter value."""

    mounts: list[dict[str, str]]
    parameter: tuple[str, str | list[str]] | None = None


async def feed(
    client: AsyncClient,
    item: StepInput,
    how: Route,
    run: RunRef,
    *,
    place: str,
    label: str,
) -> Fed:
    """Resolve one input against the finished run ``run``; :class:`NoMatch` when
    its glob matches nothing. ``place`` names a folder for downloads; ``label``
    names the capture."""
    outputs = await client.outputs(run)
    found = matching(outputs, item.source.outputs)
    if not found:
        shown = ", ".join(o.path for o in outputs[:5]) + (" …" if len(outputs) > 5 else "")
        raise NoMatch(
            f"no output of step {item.source.step!r} ({run}) matches"
            f" {item.source.outputs!r} (its outputs: {shown or 'none'})"
        )
    if how == "capture":
        mount = item.mount.path if item.mount and item.mount.path else item.source.step
        asset = await client.capture(run, label, mount=mount)
        return Fed([_mount(asset.id, item, mount)])
    if how == "download":
        values = await _download(client, run, found, Path(place))
    elif how == "upload":
        values = [Path(_local(o)).resolve().as_uri() for o in found]
    else:
        values = [o.id or o.path for o in found]
    if item.parameter is not None:
        value: str | list[str] = values[0] if len(values) == 1 else values
        return Fed([], (item.parameter, value))
    base = item.mount.path if item.mount else None
    names = [PurePosixPath(o.path.rstrip("/")).name for o in found]
    mounts = []
    for value, name in zip(values, names, strict=True):
        path = base if base and len(found) == 1 else (f"{base}/{name}" if base else None)
        mounts.append(_mount(value, item, path))
    return Fed(mounts)


def _mount(source: str, item: StepInput, path: str | None) -> dict[str, str]:
    mount = {"source": source}
    if path:
        mount["path"] = path
    if item.mount and item.mount.input:
        mount["input"] = item.mount.input
    return mount


def _local(out: Output) -> str:
    return out.id or out.path


async def _download(
    client: AsyncClient, run: RunRef, found: Sequence[Output], into: Path
) -> list[str]:
    """Each matched file downloaded (verified, resumable; a complete file is kept)."""
    import asyncio

    from runhub.transfer.fetch import Wanted, fetch

    backend = client.backend(run.backend)
    signed = await client.download_urls(run, found)
    http = client.engine().http()
    paths = []
    for out in signed:
        if not out.url:
            raise RunhubError(f"{run}: the platform gave no download URL for {out.path}")
        dest = into / PurePosixPath(out.path.rstrip("/")).name
        want = Wanted(out.url, dest, out.path, out.size)
        allow = backend.serves_local_files()
        await asyncio.to_thread(fetch, want, http=http, allow_files=allow)
        paths.append(str(dest))
    return paths


def place_for(home: Path, chain: str, row: str, step: str, index: int) -> str:
    """The folder downloads of one input of one step land in (stable across re-runs)."""
    digest = hashlib.sha256(f"{row}\0{step}".encode()).hexdigest()[:12]
    return str(home / "chains" / chain / f"{digest}-{step}" / str(index))


__all__ = ["Fed", "NoMatch", "Route", "feed", "matching", "place_for", "route"]
