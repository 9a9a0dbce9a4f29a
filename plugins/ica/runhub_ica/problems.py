"""ICA error answers (``application/problem+json``) -> runhub errors."""

from __future__ import annotations

from typing import Any

import httpx

from runhub.backend import response_excerpt
from runhub.errors import AuthError, NotFound, PlatformError, RateLimited


def _problem(response: httpx.Response) -> dict[str, Any] | None:
    content_type = response.headers.get("content-type", "")
    if "json" not in content_type:
        return None
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def error_for(response: httpx.Response, context: str) -> PlatformError:
    """A runhub error carrying ICA's code (problem ``title``), detail and parameters.

    Only the problem's own fields are quoted: never request headers, so no secret
    can leak into a message.
    """
    status = response.status_code
    problem = _problem(response)
    code = detail = None
    parameters: dict[str, Any] = {}
    if problem is not None:
        title = problem.get("title")
        code = str(title) if title is not None else None
        raw_detail = problem.get("detail")
        detail = str(raw_detail) if raw_detail is not None else None
        raw_params = problem.get("parameters")
        if isinstance(raw_params, dict):
            parameters = {str(k): v for k, v in raw_params.items()}
    if code is None and detail is None:
        detail = response_excerpt(response) or None
    text = ": ".join(part for part in (code, detail) if part)
    if parameters:
        text += " (" + ", ".join(f"{k}: {v}" for k, v in parameters.items()) + ")"
    message = f"{context} -> {status} {text}".rstrip()
    kwargs: dict[str, Any] = {"code": code, "detail": detail, "parameters": parameters}
    if status in (401, 403):
        return AuthError(
            message,
            status=status,
            hint="check ICAV2_X_API_KEY / ICAV2_ACCESS_TOKEN and your access to the project",
            **kwargs,
        )
    if status == 404:
        return NotFound(message, **kwargs)
    if status == 429:
        return RateLimited(message, status=status, **kwargs)
    return PlatformError(message, status=status, **kwargs)
