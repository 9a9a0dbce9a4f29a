"""WES error answers -> runhub errors, with the server's own words.

The spec's ``ErrorResponse`` is ``{msg, status_code}`` (both optional); connexion
servers (wes-service) answer problem+json ``{title, detail, status}``; FastAPI
(sapporo) answers ``{msg, status_code}`` or ``{detail}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from runhub.backend import response_excerpt
from runhub.errors import AuthError, NotFound, PlatformError


def detail_of(response: httpx.Response) -> str:
    """The server's explanation, or a short excerpt of the body."""
    try:
        body: Any = response.json()
    except ValueError:
        return response_excerpt(response)
    if isinstance(body, Mapping):
        for key in ("msg", "detail", "message", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return " ".join(value.split())[:300]
    return response_excerpt(response)


def _hint(response: httpx.Response, detail: str) -> str | None:
    request = response.request
    parts = request.url.path.rstrip("/").split("/")
    asked_a_run = "runs" in parts and parts[-1] != "runs"
    if response.status_code == 500 and request.method == "GET" and asked_a_run:
        return "some servers (wes-service) answer 500 for a run id they do not know: check the ref"
    if request.method == "POST" and parts[-1] == "runs" and "workflow_engine" in detail:
        return "set options.wes.workflow_engine in the spec, or RUNHUB_WES_ENGINE"
    return None


def error_for(response: httpx.Response, context: str) -> PlatformError:
    """The runhub error for a WES error answer; ``context`` is the redacted request."""
    status = response.status_code
    detail = detail_of(response)
    message = f"{context} -> {status} {detail}".rstrip()
    hint = _hint(response, detail)
    if status in (401, 403):
        return AuthError(
            message,
            status=status,
            detail=detail,
            hint=hint or "check RUNHUB_WES_TOKEN, or RUNHUB_WES_USERNAME/RUNHUB_WES_PASSWORD",
        )
    if status == 404:
        return NotFound(message, detail=detail, hint=hint)
    return PlatformError(message, status=status, detail=detail, hint=hint)
