"""Code Ocean answers -> runhub errors, and checks on what goes into URLs."""

from __future__ import annotations

import re
from typing import Any

import httpx

from runhub.backend import RunRef, response_excerpt, response_json
from runhub.errors import (
    AmbiguousLaunch,
    AuthError,
    NotFound,
    PlatformError,
    RateLimited,
    SpecError,
)

_TAGS = re.compile(r"<[^>]*>")
#: Computation ids are UUIDs; anything outside this set would change the URL path,
#: and so would an id of dots only (``computations/..`` is ``/api/v1/``).
ID = re.compile(r"(?!\.+$)[A-Za-z0-9._-]+")


class UnsettledLaunch(AmbiguousLaunch):
    """A launch whose answer was lost, and whose run the listings cannot settle:
    several computations match, or some may match, or a listing could not be read.

    Nothing is sent again. ``candidates`` are the computations that may be the run.
    """

    def __init__(self, message: str, *, candidates: list[str], hint: str) -> None:
        super().__init__(message, method="POST", url="computations")
        self.candidates = candidates
        self.hint = hint


def check_ref(ref: RunRef) -> None:
    """SpecError unless ``ref.id`` can be a computation id (it goes into URL paths)."""
    if not ID.fullmatch(ref.id):
        raise SpecError(
            f"{ref} is not a Code Ocean run reference",
            hint="write it as codeocean:<computation id>, as printed by launch",
        )


def computation(response: httpx.Response) -> dict[str, Any]:
    """The JSON object a computation endpoint answered (PlatformError otherwise)."""
    data = response_json(response)
    if not isinstance(data, dict):
        path = response.request.url.path
        raise PlatformError(f"{path} answered {type(data).__name__} instead of a computation")
    return data


def error_for(response: httpx.Response, context: str) -> PlatformError:
    """``{"message": ...}`` bodies become the error text; anything else (an HTML 502
    page) a short, tag-free excerpt. 401/403 are AuthError, 404 NotFound."""
    status = response.status_code
    try:
        data = response.json()
    except ValueError:
        data = None
    extra: dict[str, Any] = {}
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        detail = data["message"]
        extra = {k: v for k, v in data.items() if k != "message"}
    elif data in ({}, []):
        detail = ""  # an empty JSON body says nothing worth quoting
    else:
        detail = " ".join(_TAGS.sub(" ", response_excerpt(response, 400)).split())[:160]
    message = (
        f"{context} -> {status}: {detail}"
        if detail
        else f"{context} -> {status} {response.reason_phrase}".rstrip()
    )
    if status == 401:
        return AuthError(
            message,
            status=status,
            detail=detail,
            hint="check CODEOCEAN_API_TOKEN (an access token, cop_...)",
        )
    if status == 403:
        return AuthError(
            message,
            status=status,
            detail=detail,
            hint="the token lacks permission (runs need Capsule Read/Write, Data Asset Read)",
        )
    if status == 404:
        return NotFound(message, detail=detail, parameters=extra)
    if status == 429:
        return RateLimited(message, status=status, detail=detail)
    return PlatformError(message, status=status, detail=detail, parameters=extra)
