"""One-request uploads: the whole file in one HTTP PUT to a presigned URL.

The body is streamed from the file in 1 MiB chunks (never read whole), from the
start again on every attempt, so the transport's retry policy applies to it as to
any other request: a PUT is idempotent, so a dropped connection or a 5xx is sent
again, and a 403 is an :class:`~runhub.errors.AuthError` at once. ``Content-MD5``
goes with it, so the storage rejects a body that was changed on the way.

The PUT carries no platform credentials (the URL is its own authority), and its
query string (the signature) is kept out of every message.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import TYPE_CHECKING

import httpx

from runhub.backend import IDEMPOTENT, PURPOSE, READ_ONLY, Backend, Capabilities
from runhub.config import BackendSettings
from runhub.errors import AuthError, NotFound, PlatformError
from runhub.transfer.model import LocalFile, PutTarget
from runhub.transfer.progress import Progress

if TYPE_CHECKING:
    from runhub.transport import SyncDriver

CHUNK = 1 << 20


class FileStream(httpx.SyncByteStream):
    """A file as a request body that can be sent again (each iteration starts over)."""

    def __init__(self, item: LocalFile, progress: Progress) -> None:
        self.item = item
        self.progress = progress

    def __iter__(self) -> Iterator[bytes]:
        with self.item.path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                self.progress.sent(len(chunk))
                yield chunk


class Storage(Backend):
    """Stands in for the object storage behind presigned URLs: no settings, no
    secrets, and errors read from S3's XML (``<Code>AccessDenied</Code>``)."""

    name = "storage"
    settings_model = BackendSettings
    capabilities = Capabilities()

    def __init__(self) -> None:
        super().__init__(BackendSettings())

    def error_for(self, response: httpx.Response, context: str) -> PlatformError:
        status = response.status_code
        code = (
            _xml_code(response.text) if "xml" in response.headers.get("content-type", "") else None
        )
        where = context.split("?", 1)[0]
        message = f"{where} -> {status}" + (f" {code}" if code else "")
        if status in (401, 403):
            return AuthError(
                f"{message}: the storage refused the upload URL", status=status, code=code
            )
        if status == 404:
            return NotFound(message, code=code)
        return PlatformError(message, status=status, code=code)


def _xml_code(text: str) -> str | None:
    start = text.find("<Code>")
    end = text.find("</Code>", start)
    return text[start + 6 : end].strip() if start >= 0 and end > start else None


def put_request(item: LocalFile, target: PutTarget, progress: Progress) -> httpx.Request:
    """The PUT of ``item`` to ``target`` (marked idempotent for the driver)."""
    assert item.md5, "small files are hashed with MD5 too"
    headers = {
        **dict(target.headers),
        "Content-Length": str(item.size),
        "Content-MD5": base64.b64encode(bytes.fromhex(item.md5)).decode(),
    }
    url = httpx.URL(target.url)
    # httpx adds Host only to requests it encodes the body of; this one streams.
    headers.setdefault("Host", url.netloc.decode("ascii"))
    req = httpx.Request("PUT", url, headers=headers, stream=FileStream(item, progress))
    req.extensions[READ_ONLY] = False
    req.extensions[IDEMPOTENT] = True
    req.extensions[PURPOSE] = f"upload {item.name}"
    return req


def put_file(driver: SyncDriver, item: LocalFile, target: PutTarget, progress: Progress) -> None:
    """Send ``item`` to ``target`` under ``driver``'s retry policy."""
    query = httpx.URL(target.url).query.decode()
    if query:
        driver.redact.add([query])  # the signature is the URL's credential
    driver.send(put_request(item, target, progress))
