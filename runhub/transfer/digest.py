"""Checksums of local files: SHA-256 (the content address) and MD5 (what S3 checks).

Why two: the content address recorded on the platform must survive adversarial
collisions across users of one project, so it is SHA-256; ICA's own integrity
fields (``hash`` on ``createFileWithUploadUrl``, a one-part object's ``objectETag``)
are MD5, so small files get an MD5 too, from the same read. Large files skip MD5:
their multipart ETag is not an MD5 of the content anyway, and every part carries
its own checksum to S3 (botocore's default).

A file's checksums are kept in the transfer store keyed on its path, size, mtime
and inode, so a file is read once however many launches mount it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import replace

from runhub.transfer.model import LocalFile
from runhub.transfer.store import TransferStore

CHUNK = 4 << 20


def file_digest(
    item: LocalFile, *, md5: bool, advance: Callable[[int], None] = lambda n: None
) -> LocalFile:
    """``item`` with ``sha256`` (and ``md5`` if asked) computed from its bytes."""
    sha = hashlib.sha256()
    md = hashlib.md5(usedforsecurity=False) if md5 else None
    with item.path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            sha.update(chunk)
            if md is not None:
                md.update(chunk)
            advance(len(chunk))
    return replace(item, sha256=sha.hexdigest(), md5=md.hexdigest() if md else "")


def hashed(
    item: LocalFile,
    store: TransferStore | None,
    *,
    md5: bool,
    advance: Callable[[int], None] = lambda n: None,
) -> LocalFile:
    """``item`` with its checksums: from the store when this version was hashed
    before, else read (and remembered)."""
    if item.hashed and (item.md5 or not md5):
        return item
    inode = os.stat(item.path).st_ino
    if store is not None:
        known = store.known_hash(item, inode)
        if known is not None and (known[1] or not md5):
            return replace(item, sha256=known[0], md5=known[1])
    done = file_digest(item, md5=md5, advance=advance)
    if store is not None:
        store.remember_hash(done, inode)
    return done
