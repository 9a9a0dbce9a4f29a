"""The bytes of emulated files that nobody uploaded (seeded data, analysis outputs).

Deterministic from the data id — the bytes ``catalog.download`` serves
(``catalog.content``, the same formula; tests/transfer/test_download.py checks a
download against this MD5) — so a download can be checked against the MD5 the
emulator reports as the file's ``objectETag``. Only small files get an ETag (the
seeded FASTQs are gigabytes that no test downloads).
"""

from __future__ import annotations

import hashlib

#: Files up to this size get synthetic content with a known MD5.
ETAG_LIMIT = 1 << 20


def synthetic(data_id: str, size: int) -> bytes:
    """``size`` bytes derived from ``data_id``."""
    block = (hashlib.sha256(data_id.encode()).hexdigest() + "\n").encode()
    return (block * (size // len(block) + 1))[:size]


def etag(data_id: str, size: int | None) -> str | None:
    """The MD5 hex of the synthetic content, for small files (S3's one-part ETag)."""
    if size is None or size > ETAG_LIMIT:
        return None
    return hashlib.md5(synthetic(data_id, size), usedforsecurity=False).hexdigest()
