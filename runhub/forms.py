"""``multipart/form-data`` bodies (RFC 7578) for exchanges that post forms.

Some platforms take a form, not JSON (GA4GH WES ``POST /runs``). The body is built
here, in memory, once: the request a backend yields then has plain bytes as its
content, so the driver can send it again on a retry, ``--dry-run`` can print it, and
a test can read it back with :func:`parse_multipart`.

A form is always encoded as multipart, even with no file parts: a server that
documents ``multipart/form-data`` may reject ``application/x-www-form-urlencoded``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FormFile:
    """One file part of a form: ``field`` is the form field it belongs to (a field
    may hold several files), ``filename`` what the server is told it is called."""

    field: str
    filename: str
    content: bytes
    content_type: str = "application/octet-stream"

    def __repr__(self) -> str:  # never dump the content into logs or test failures
        return f"FormFile({self.field!r}, {self.filename!r}, {len(self.content)} bytes)"


def _quote(value: str) -> str:
    # The HTML form encoding (WHATWG), which RFC 7578 §4.2 allows and servers expect.
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def encode_multipart(
    fields: Mapping[str, str] | Sequence[tuple[str, str]],
    files: Sequence[FormFile] = (),
    *,
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """The body and ``Content-Type`` of a multipart form: text fields first, in the
    order given, then the files."""
    boundary = boundary or f"runhub-{secrets.token_hex(16)}"
    pairs = list(fields.items()) if isinstance(fields, Mapping) else list(fields)
    marker = f"--{boundary}\r\n".encode()
    chunks: list[bytes] = []
    for name, value in pairs:
        chunks += [
            marker,
            f'Content-Disposition: form-data; name="{_quote(name)}"\r\n\r\n'.encode(),
            value.encode("utf-8"),
            b"\r\n",
        ]
    for part in files:
        disposition = (
            f'Content-Disposition: form-data; name="{_quote(part.field)}"; '
            f'filename="{_quote(part.filename)}"\r\n'
        )
        chunks += [
            marker,
            disposition.encode("utf-8"),
            f"Content-Type: {part.content_type}\r\n\r\n".encode(),
            part.content,
            b"\r\n",
        ]
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


@dataclass(frozen=True, slots=True)
class FormPart:
    """One part of a parsed form (``filename`` is None for a text field)."""

    field: str
    filename: str | None
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")


def parse_multipart(content_type: str, body: bytes) -> list[FormPart]:
    """The parts of a multipart body, in order (for tests and emulators)."""
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    parts = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        parts.append(
            FormPart(
                field=str(part.get_param("name", header="content-disposition")),
                filename=part.get_filename(),
                content=payload if isinstance(payload, bytes) else b"",
            )
        )
    return parts


__all__ = ["FormFile", "FormPart", "encode_multipart", "parse_multipart"]
