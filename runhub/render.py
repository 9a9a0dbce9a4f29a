"""Render HTTP requests as text for ``--dry-run`` and ``-v``, with secrets masked."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

    from runhub.policy import Redactor


def render_request(request: httpx.Request, redact: Redactor) -> str:
    """``METHOD URL``, the headers (sensitive ones masked) and the body, pretty-printed."""
    lines = [redact(f"{request.method} {request.url}")]
    for key, value in redact.headers(request.headers).items():
        if key.lower() in ("content-length", "host"):
            continue
        lines.append(f"{key}: {value}")
    body = request.content
    if body:
        lines.append("")
        try:
            text = json.dumps(json.loads(body), indent=2, sort_keys=False)
        except ValueError:
            text = body.decode("utf-8", errors="replace")
        lines.append(redact(text))
    return "\n".join(lines)
