"""Building ICA requests: base URL, credentials, versioned media types, markings.

Every request carries what :class:`~runhub_ica.auth.Credentials` holds now (the JWT,
else the key) and names the secret it carries (``runhub.secrets``), so the driver
masks a token obtained after it was built.
"""

from __future__ import annotations

from typing import Any

import httpx

from runhub.backend import request
from runhub_ica.auth import Credentials


def get(creds: Credentials, path: str, accept: str, purpose: str, **params: Any) -> httpx.Request:
    """A GET under the REST root (read-only, retried freely by the driver)."""
    auth, secrets = creds.headers()
    return request(
        "GET",
        creds.settings.api_base + path,
        params=params or None,
        headers={**auth, "Accept": accept},
        purpose=purpose,
        secrets=secrets,
    )


def post(
    creds: Credentials,
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
    auth, secrets = creds.headers()
    headers = {**auth, "Accept": media, "Content-Type": media}
    headers.update(extra or {})
    return request(
        "POST",
        creds.settings.api_base + path,
        params=params,
        json_body=json_body,
        headers=headers,
        read_only=read_only,
        idempotent=idempotent,
        purpose=purpose,
        secrets=secrets,
    )


def bearer_of(req: httpx.Request) -> str | None:
    """The JWT a request was sent with (None: an API key)."""
    auth = req.headers.get("Authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else None
