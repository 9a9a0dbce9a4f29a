"""Staging: a spec's local mounts become platform data before it launches.

For each backend that stages (``Capabilities.stage``), the client runs
:func:`stage_specs` before the first launch of a spec or a batch:

1. every local mount of every spec is examined (a missing or unreadable file is a
   SpecError naming the mount; nothing is uploaded);
2. each distinct file is hashed once (from the transfer store when known);
3. each distinct file or folder is uploaded once, several at a time, into the
   backend's staging folder under a content-addressed name
   (``<staging>/<sha256[:16]>/<file name>``; folders
   ``<staging>/<tree digest[:16]>/<folder name>/…``), reusing content already on the
   platform;
4. the specs come back with those mounts pointing at the uploaded data (the mount
   path defaults to the local file or folder name).

Any failed upload raises before a single launch: nothing launches on partial data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from runhub.errors import NotFound, PlatformError, Unsupported
from runhub.spec import DataMount, RunSpec
from runhub.transfer.digest import hashed
from runhub.transfer.flow import Call, Fan, Flow, Work, raise_first
from runhub.transfer.local import check_mounts
from runhub.transfer.model import LocalFile, LocalTree, Location, RemoteFile
from runhub.transfer.upload import upload_flow

if TYPE_CHECKING:
    from runhub.backend import Backend
    from runhub.transfer.contract import DataStore
    from runhub.transfer.engine import Engine

#: Files hashed at once (hashing is CPU-bound: about one per core).
HASHING_AT_ONCE = 2


@dataclass(frozen=True)
class _Job:
    """One distinct local file or folder to put in one staging location."""

    where: Location
    tree: LocalTree


def data_store(backend: Backend) -> DataStore:
    """The backend's DataStore, or Unsupported saying what to do instead."""
    data = backend.data() if backend.capabilities.stage else None
    if data is None:
        raise Unsupported(
            f"the {backend.name} backend cannot upload local files",
            hint="give a data reference the platform knows instead of a local path",
        )
    return data


def hash_files(engine: Engine, files: Sequence[LocalFile], threshold: int) -> Flow[list[LocalFile]]:
    """Every file with its checksums (MD5 too below ``threshold``), several at once."""
    if any(f.size >= threshold for f in files):
        from runhub.transfer.s3session import prewarm

        prewarm()  # boto3's import overlaps hashing and the platform's first answers
    progress = engine.progress
    progress.begin("hashing", len(files), sum(f.size for f in files))

    def one(item: LocalFile) -> Flow[LocalFile]:
        done: LocalFile = yield Work(
            lambda call: hashed(
                item, engine.store, md5=item.size < threshold, advance=progress.sent
            )
        )
        return done

    results = yield Fan([one(f) for f in files], HASHING_AT_ONCE)
    progress.end()
    raise_first(results)
    return list(results)


def tree_digest(files: Sequence[LocalFile]) -> str:
    """A folder's content address: SHA-256 over (name, size, sha256) of its files."""
    text = "\n".join(f"{f.name}\t{f.size}\t{f.sha256}" for f in sorted(files, key=lambda f: f.name))
    return hashlib.sha256(text.encode()).hexdigest()


def stage_specs(engine: Engine, backend: Backend, specs: Sequence[RunSpec]) -> Flow[list[RunSpec]]:
    """``specs`` with every local mount uploaded and replaced (see the module docstring)."""
    found = [check_mounts(spec) for spec in specs]
    if not any(found):
        return list(specs)
    data = data_store(backend)
    jobs: dict[tuple[str, str, str], _Job] = {}
    for spec, mounts in zip(specs, found, strict=True):
        where = data.staging(spec)
        for _, tree in mounts:
            jobs.setdefault((where.scope, where.path, str(tree.root)), _Job(where, tree))
    distinct = {f.path: f for job in jobs.values() for f in job.tree.files}
    done = yield from hash_files(engine, list(distinct.values()), data.multipart_threshold)
    by_path = {f.path: f for f in done}
    hashed_jobs = {key: _Job(job.where, _with(job.tree, by_path)) for key, job in jobs.items()}
    flows = [_job_flow(engine, backend, data, job) for job in hashed_jobs.values()]
    files = [f for job in hashed_jobs.values() for f in job.tree.files]
    engine.progress.begin("uploading", len(files), sum(f.size for f in files))
    results = yield Fan(flows, engine.files_at_once)
    engine.progress.end()
    raise_first(results)
    refs = dict(zip(hashed_jobs, results, strict=True))
    staged = []
    for spec, mounts in zip(specs, found, strict=True):
        where = data.staging(spec)
        replaced = {
            index: (refs[(where.scope, where.path, str(tree.root))], tree) for index, tree in mounts
        }
        staged.append(_rewrite(spec, replaced))
    return staged


def _with(tree: LocalTree, by_path: dict[Path, LocalFile]) -> LocalTree:
    files = tuple(by_path[f.path] for f in tree.files)
    return LocalTree(tree.source, tree.root, tree.folder, files)


def _job_flow(engine: Engine, backend: Backend, data: DataStore, job: _Job) -> Flow[str]:
    where, tree = job.where, job.tree
    if not tree.folder:
        (item,) = tree.files
        path = f"{where.path}{item.sha256[:16]}/{item.name}"
        done = yield from upload_flow(engine, backend, data, where, path, item, anywhere=True)
        return done.remote.id
    folder = f"{where.path}{tree_digest(tree.files)[:16]}/{tree.root.name}/"
    flows = [
        upload_flow(engine, backend, data, where, folder + f.name, f, anywhere=False)
        for f in tree.files
    ]
    results = yield Fan(flows, engine.files_at_once)
    raise_first(results)
    found: RemoteFile | None = yield Call(backend, data.lookup(where, folder))
    if found is None or found.kind != "folder":
        raise NotFound(f"the uploaded folder {folder} is not visible on the platform")
    if not found.ready:
        raise PlatformError(f"the uploaded folder {folder} is {found.status}")
    return found.id


def _rewrite(spec: RunSpec, replaced: dict[int, tuple[str, LocalTree]]) -> RunSpec:
    mounts = []
    for index, mount in enumerate(spec.mounts):
        if index in replaced:
            ref, tree = replaced[index]
            mount = DataMount(source=ref, path=mount.path or tree.root.name, input=mount.input)
        mounts.append(mount.model_dump(exclude_none=True))
    return RunSpec.from_data({**spec.to_data(), "mounts": mounts})
