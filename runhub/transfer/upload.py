"""Uploading one file to a platform, resumably, and waiting until it is usable.

The order of steps is what keeps the promises:

1. look the content up (``find``, by checksum) — a hit is reused, nothing is sent;
2. look at the destination path: a usable file with the same content is reused, a
   folder or a different file there is a name clash (an error, nothing overwritten),
   a file that is not usable yet (ICA PARTIAL, left by a dead upload) is reopened and
   overwritten — it is never used as it is;
3. record the upload in the transfer store, then create the file record with an
   idempotency key kept there (a crash and a retry send the same key);
4. send the bytes (one PUT, or S3 multipart resuming what was sent before);
5. poll until the platform says the file is usable, check its size (and MD5 where
   the storage gives one), and only then record the checksum on it (``seal``).

A file is therefore found by ``find`` only once it is complete and verified.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runhub.errors import AuthError, PlatformError, SpecError, TransportError
from runhub.transfer.flow import Call, Flow, Sleep, Work
from runhub.transfer.model import LocalFile, Location, PutTarget, RemoteFile, Upload

if TYPE_CHECKING:
    from runhub.backend import Backend
    from runhub.transfer.contract import DataStore
    from runhub.transfer.engine import Engine


@dataclass(frozen=True, slots=True)
class Uploaded:
    """One file's outcome: ``found`` (same content elsewhere), ``present`` (already at
    the path), ``uploaded``, or ``resumed`` (a partial upload finished)."""

    item: LocalFile
    remote: RemoteFile
    action: str

    def to_dict(self) -> dict[str, object]:
        return {
            "local": str(self.item.path),
            "path": self.remote.path,
            "id": self.remote.id,
            "size": self.item.size,
            "sha256": self.item.sha256,
            "action": self.action,
        }


_MD5 = re.compile(r'^"?([0-9a-f]{32})"?$')
#: How long to wait for an uploaded file to become usable.
SETTLE_TIMEOUT = 900.0
CLASH_HINT = "choose another folder (for staging: the ica.staging_folder setting) or remove it"


def upload_flow(
    engine: Engine,
    backend: Backend,
    data: DataStore,
    where: Location,
    path: str,
    item: LocalFile,
    *,
    anywhere: bool,
    settle_timeout: float = SETTLE_TIMEOUT,
) -> Flow[Uploaded]:
    """Put ``item`` at ``path`` (reusing the same content anywhere in ``where.scope``
    when ``anywhere``); returns the usable file and what was done."""
    progress = engine.progress
    if anywhere:
        hit = yield Call(backend, data.find(where, item))
        if hit is not None and hit.ready:
            progress.skipped(item.size)
            progress.file_done(item.name)
            return Uploaded(item, hit, "found")
    at = yield Call(backend, data.lookup(where, path))
    if at is not None:
        reused = yield from _existing(backend, data, at, item, path)
        if reused is not None:
            progress.skipped(item.size)
            progress.file_done(item.name)
            return Uploaded(item, reused, "present")
    multipart = item.size >= data.multipart_threshold
    if multipart:
        from runhub.transfer.s3session import ensure_boto3, prewarm

        ensure_boto3(data.s3_install)  # before the platform creates anything
        prewarm()
    dest = f"{where.backend}:{where.scope}:{path}"
    state = engine.store.upload(dest, item)
    if at is not None:
        upload = yield Call(backend, data.reopen(at, item, multipart=multipart))
    else:
        upload = yield Call(
            backend, data.create(where, path, item, multipart=multipart, key=state.create_key)
        )
    engine.store.created(dest, upload.remote.id)
    yield from _send(engine, backend, data, upload, item, dest)
    remote = yield from _settled(backend, data, upload.remote, item, settle_timeout)
    remote = yield Call(backend, data.seal(remote, item))
    engine.store.finished(dest)
    progress.file_done(item.name)
    return Uploaded(item, remote, "resumed" if at is not None else "uploaded")


def _existing(
    backend: Backend, data: DataStore, at: RemoteFile, item: LocalFile, path: str
) -> Flow[RemoteFile | None]:
    """The file already at ``path`` if it holds ``item``; None to (re)upload it."""
    if at.kind == "folder":
        raise SpecError(
            f"{at.path} is a folder, so {item.name} cannot be uploaded there", hint=CLASH_HINT
        )
    if not at.ready:
        return None  # left by an upload that never finished: overwritten, never used
    if at.sha256 == item.sha256 and at.size in (None, item.size):
        return at
    if at.sha256 is None and at.size == item.size and _md5_matches(at, item) is not False:
        # Complete but never sealed (a crash after the upload): the path carries the
        # content address and the size matches, so it is this content.
        sealed: RemoteFile = yield Call(backend, data.seal(at, item))
        return sealed
    raise SpecError(
        f"{path} already holds a different file ({at.size} bytes"
        + (f", sha256 {at.sha256[:12]}…" if at.sha256 else "")
        + f"; {item.path} has {item.size} bytes, sha256 {item.sha256[:12]}…)",
        hint=CLASH_HINT,
    )


def _send(
    engine: Engine, backend: Backend, data: DataStore, upload: Upload, item: LocalFile, dest: str
) -> Flow[None]:
    target = upload.target
    if isinstance(target, PutTarget):
        try:
            yield Work(lambda call: engine.put(item, target))
        except AuthError:
            # A presigned URL may have expired between create and PUT: one fresh one.
            again = yield Call(backend, data.reopen(upload.remote, item, multipart=False))
            fresh = again.target
            if not isinstance(fresh, PutTarget):
                raise
            yield Work(lambda call: engine.put(item, fresh))
        return
    remote, s3 = upload.remote, target

    def send(call: object) -> None:
        def renew() -> object:
            return call(backend, data.renew(remote))  # type: ignore[operator]

        engine.multipart(
            item,
            s3,
            dest=dest,
            renew=renew,  # type: ignore[arg-type]
            part_size=data.part_size,
            concurrency=data.part_concurrency,
            install=data.s3_install,
        )

    yield Work(send)


def _delays() -> Iterator[float]:
    delay = 0.25
    while True:
        yield delay
        delay = min(delay * 2, 10.0)


def _settled(
    backend: Backend, data: DataStore, remote: RemoteFile, item: LocalFile, timeout: float
) -> Flow[RemoteFile]:
    """Poll until the platform says the file is usable; then check what it holds."""
    waited = 0.0
    delays = _delays()
    while True:
        current: RemoteFile = yield Call(backend, data.refresh(remote))
        if current.ready:
            break
        if current.status not in (None, "PARTIAL"):
            raise PlatformError(
                f"{current.path} went {current.status} instead of becoming available after upload"
            )
        if waited >= timeout:
            raise TransportError(
                f"{current.path} is still {current.status or 'not available'} {timeout:g} s after"
                " its upload; nothing was launched",
                hint="run the same command again: it checks again, and resumes if needed",
            )
        delay = next(delays)
        yield Sleep(delay)
        waited += delay
    if current.size is not None and current.size != item.size:
        raise PlatformError(
            f"{current.path}: the platform holds {current.size} bytes, but {item.path} has"
            f" {item.size}; nothing was launched",
            hint="run the same command again to upload it anew",
        )
    if _md5_matches(current, item) is False:
        raise PlatformError(
            f"{current.path}: the stored object's MD5 differs from {item.path}'s; nothing was"
            " launched",
            hint="run the same command again to upload it anew",
        )
    return current


def _md5_matches(remote: RemoteFile, item: LocalFile) -> bool | None:
    """True/False when the storage's ETag is a plain MD5 to compare; None otherwise."""
    if not remote.etag or not item.md5:
        return None
    match = _MD5.match(remote.etag.lower())
    if match is None:
        return None  # a multipart ETag ("…-N") is not the content's MD5
    return match.group(1) == item.md5
