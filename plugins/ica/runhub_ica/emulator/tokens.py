"""The emulator's JWTs: ``POST /api/tokens`` mints them, every endpoint accepts them.

Spec (``createJwtToken``; info text "JWT"): the API key is exchanged for a JWT that
expires after a period the tenant admin sets; the JWT is the preferred way to
authenticate. A JWT here is HS256-signed with a secret of this emulator instance,
carries ``sub`` (the key's user, so idempotency slots are the same whichever
credential a request carries) and ``exp`` in real epoch seconds: token lifetime is an
authentication matter, not part of the emulated clock that moves analyses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

ISSUER = "runhub-ica-emulator"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims_of(token: str) -> dict[str, Any] | None:
    """The (unverified) claims of a JWT-shaped token, or None."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(_unb64(parts[1]))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None


class Tokens:
    """Mints and checks this instance's JWTs."""

    def __init__(self, lifetime: float = 3600.0) -> None:
        self.lifetime = lifetime
        self._secret = secrets.token_bytes(32)
        #: How many tokens were minted (tests count authentications with it).
        self.minted = 0

    def _sign(self, head_and_body: str) -> str:
        return _b64(hmac.new(self._secret, head_and_body.encode(), hashlib.sha256).digest())

    def mint(self, user: str, tenant: str) -> str:
        now = int(time.time())
        head = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        body = _b64(
            json.dumps(
                {
                    "iss": ISSUER,
                    "aud": "ica",
                    "sub": user,
                    "tid": tenant,
                    "iat": now,
                    "exp": now + max(1, int(self.lifetime)),
                    "jti": secrets.token_hex(8),
                }
            ).encode()
        )
        self.minted += 1
        return f"{head}.{body}.{self._sign(f'{head}.{body}')}"

    def user_of(self, token: str) -> str | None:
        """The user of a valid token of ours; None if it is not one of ours at all.

        Raises ValueError for one of ours that is forged or expired.
        """
        claims = claims_of(token)
        if claims is None or claims.get("iss") != ISSUER:
            return None
        head, body, signature = token.split(".")
        if not hmac.compare_digest(signature, self._sign(f"{head}.{body}")):
            raise ValueError("The JWT was not issued by this ICA")
        if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
            raise ValueError("The JWT has expired")
        return str(claims.get("sub"))
