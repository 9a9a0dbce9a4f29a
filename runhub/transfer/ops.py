"""The data operations behind ``runhub data`` and ``runhub capture``, as flows.

Each function returns a :mod:`~runhub.transfer.flow` flow; the sync and the async
client drive the same flow (:mod:`runhub.transfer.api`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from runhub.errors import PlatformError, SpecError, Unsupported, WaitTimeout
from runhub.state import RunState
from runhub.transfer.fetch import Fetched, Wanted, fetch, target
from runhub.transfer.flow import Call, Fan, Flow, Sleep, Work, raise_first
from runhub.transfer.local import examine_path
from runhub.transfer.model import CaptureRequest, DataAsset, FolderCredentials, RemoteFile
from runhub.transfer.stage import data_store, hash_files
from runhub.transfer.upload import Uploaded, upload_flow

if TYPE_CHECKING:
    from runhub.backend import Backend
    from runhub.ref import RunRef
    from runhub.transfer.engine import Engine

#: Download URLs asked for at a time (presigned URLs expire: asked just before use).
URL_BATCH = 100


def upload_paths(
    engine: Engine, backend: Backend, sources: Sequence[str], dest: str
) -> Flow[list[Uploaded]]:
    """Upload local files and folders to ``dest`` (a folder, or a file name for one
    file), in parallel, resumably, each verified once there."""
    data = data_store(backend)
    where = data.location(dest)
    trees = [examine_path(s) for s in sources]
    single = len(trees) == 1 and not trees[0].folder
    folder = where.path if where.path.endswith("/") or not single else None
    plan: list[tuple[str, object]] = []
    for tree in trees:
        for item in tree.files:
            if folder is None:
                path = where.path
            elif tree.folder:
                path = f"{folder.rstrip('/')}/{tree.root.name}/{item.name}"
            else:
                path = f"{folder.rstrip('/')}/{item.name}"
            plan.append((path, item))
    files = [item for _, item in plan]
    done = yield from hash_files(engine, files, data.multipart_threshold)  # type: ignore[arg-type]
    engine.progress.begin("uploading", len(done), sum(f.size for f in done))
    flows = [
        upload_flow(engine, backend, data, where, path, item, anywhere=False)
        for (path, _), item in zip(plan, done, strict=True)
    ]
    results = yield Fan(flows, engine.files_at_once)
    engine.progress.end()
    raise_first(results)
    return list(results)


def list_data(backend: Backend, where_text: str, *, recursive: bool) -> Flow[list[RemoteFile]]:
    """What is at a path: the file itself, or a folder's contents."""
    data = data_store(backend)
    where = data.location(where_text)
    found = yield Call(backend, data.resolve(where))
    if found.kind == "file":
        return [found]
    folder = type(where)(where.backend, where.scope, found.path)
    listed: list[RemoteFile] = yield Call(backend, data.listing(folder, recursive=recursive))
    return sorted(listed, key=lambda f: f.path)


def download(engine: Engine, backend: Backend, source: str, into: Path) -> Flow[list[Fetched]]:
    """Download a file, or everything under a folder, into ``into`` (a folder's
    contents land directly in it), resumable, each file checked."""
    if into.exists() and not into.is_dir():
        raise SpecError(f"{into} is a file; give a folder to download into")
    data = data_store(backend)
    where = data.location(source)
    found = yield Call(backend, data.resolve(where))
    if found.kind == "file":
        files, base = [found], found.path.rsplit("/", 1)[0] + "/"
    else:
        folder = type(where)(where.backend, where.scope, found.path)
        listed = yield Call(backend, data.listing(folder, recursive=True))
        files, base = [f for f in listed if f.kind == "file"], found.path
    not_ready = [f.path for f in files if not f.ready]
    if not_ready:
        raise PlatformError(
            f"{len(not_ready)} file(s) are not available for download yet, e.g. {not_ready[0]}"
        )
    engine.progress.begin("downloading", len(files), sum(f.size or 0 for f in files))
    http = engine.http()
    done: list[Fetched] = []
    for start in range(0, len(files), URL_BATCH):
        chunk = files[start : start + URL_BATCH]
        urls = yield Call(backend, data.download_urls(where, chunk))
        wanted = []
        for remote, url in zip(chunk, urls, strict=True):
            if not url:
                raise PlatformError(f"the platform gave no download URL for {remote.path}")
            relative = remote.path[len(base) :] if remote.path.startswith(base) else remote.name
            wanted.append(
                Wanted(
                    url,
                    target(into, relative),
                    remote.path,
                    remote.size,
                    remote.sha256,
                    remote.etag,
                )
            )
        results = yield Fan([_fetch_one(engine, w, http) for w in wanted], engine.files_at_once)
        raise_first(results)
        done.extend(results)
    engine.progress.end()
    return done


def _fetch_one(engine: Engine, want: Wanted, http: object) -> Flow[Fetched]:
    got: Fetched = yield Work(
        lambda call: fetch(want, http=http, progress=engine.progress.sent)  # type: ignore[arg-type]
    )
    engine.progress.file_done(want.label)
    return got


def credentials(backend: Backend, where_text: str, *, read_only: bool) -> Flow[FolderCredentials]:
    """Temporary credentials for a folder or file, for the user's own tools."""
    data = data_store(backend)
    where = data.location(where_text)
    found: FolderCredentials = yield Call(backend, data.credentials(where, read_only=read_only))
    return found


def capture(
    backend: Backend,
    ref: RunRef,
    request: CaptureRequest,
    *,
    timeout: float | None,
    poll: float,
) -> Flow[DataAsset]:
    """A data asset from a finished run's results, once the platform says it is ready."""
    caps = backend.captures() if backend.capabilities.capture else None
    if caps is None:
        raise Unsupported(f"the {backend.name} backend cannot capture results as data assets")
    status = yield Call(backend, backend.status(ref))
    if not status.is_terminal:
        raise SpecError(
            f"{ref} has not finished ({status.state.value}); results are captured once it has",
            hint=f"runhub wait {ref}, then capture it",
        )
    if status.state == RunState.CANCELLED:
        raise SpecError(f"{ref} was cancelled; it has no results to capture")
    asset: DataAsset = yield Call(backend, caps.capture(ref, request))
    started = time.monotonic()
    delay = poll
    while asset.state == "pending":
        if timeout is not None and time.monotonic() - started >= timeout:
            raise WaitTimeout(
                f"data asset {asset.id} is still {asset.native or 'pending'} after {timeout:g} s",
                last=asset,
            )
        yield Sleep(delay)
        delay = min(delay * 1.5, 30.0)
        asset = yield Call(backend, caps.asset(asset.id))
    if asset.state == "failed":
        raise PlatformError(
            f"data asset {asset.id} from {ref} failed: {asset.reason or 'no reason given'}",
            hint="fix what the reason names, then capture again (a new asset is made)",
        )
    return asset
