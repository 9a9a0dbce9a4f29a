"""Building ICA requests: base URL, credentials, versioned media types, markings."""

from __future__ import annotations

from typing import Any

import httpx

from runhub.backend import request
from runhub_ica.settings import IcaSettings


def get(
    settings: IcaSettings, path: str, accept: str, purpose: str, **params: Any
) -> httpx.Request:
    """A GET under the REST root (read-only, retried freely by the driver)."""
    headers = {**settings.auth_headers(), "Accept": accept}
    return request(
        "GET", settings.api_base + path, params=params or None, headers=headers, purpose=purpose
    )


def post(
    settings: IcaSettings,
    path: str,
    media: str,
    purpose: str,
    json_body: Any = None,
    *,
    read_only: bool | None = None,
    idempotent: bool | None = None,
    params: dict[str, Any] | None = None,
    extra: dict[str, str] | None = None,
) -> httpx.Request:
    """A POST with matching ``Accept``/``Content-Type`` versions (ICA requires them)."""
    headers = {**settings.auth_headers(), "Accept": media, "Content-Type": media}
    headers.update(extra or {})
    return request(
        "POST",
        settings.api_base + path,
        params=params,
        json_body=json_body,
        headers=headers,
        read_only=read_only,
        idempotent=idempotent,
        purpose=purpose,
    )
