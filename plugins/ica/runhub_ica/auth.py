"""Authentication: the API key is exchanged for a JWT once per process and reused.

The spec (info text, "API-key" and "JWT"; operation ``createJwtToken``) says an API-key
call makes ICA request a JWT at Illumina's identity provider every time, recommends
exchanging the key once with ``POST /api/tokens`` and calls the JWT the preferred way.
So:

- the JWT is cached per process, keyed on the REST root and a SHA-256 of the key
  (never the key itself), and shared by every backend built with that key: a batch
  of 1000 runs authenticates once;
- it is renewed shortly before the ``exp`` of its claims (the ``Token`` answer carries
  only ``token``); a token whose claims cannot be read is used until ICA answers 401;
- where token creation is refused (401/403/404/405/501 to ``/api/tokens``) the key is
  sent as ``X-API-Key``, and the refusal is remembered for the process; another error
  answer (a 500, a 4xx) falls back to the key for that operation only; a platform that
  is down (502/503/504 or no connection, after the driver's retries) is reported as
  such, so an outage costs one retry budget, not two;
- a JWT is a secret: every request carrying it lists it in the ``runhub.secrets``
  extension, so the driver masks it; reprs show neither the key nor the token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from runhub.backend import Exchange, request, response_json
from runhub.errors import PlatformError
from runhub_ica.settings import IcaSettings

V3 = "application/vnd.illumina.v3+json"
#: Answers to ``POST /api/tokens`` that mean "no JWTs here": use the key.
REFUSED = frozenset({401, 403, 404, 405, 501})
#: Answers that mean the platform is down: the operation would meet them too.
DOWN = frozenset({502, 503, 504})
#: Renew this long before ``exp`` (at most half the token's lifetime).
RENEW_BEFORE = 300.0

Slot = tuple[str, str]


def expiry_of(token: str) -> tuple[float | None, float | None]:
    """``(exp, iat)`` of a JWT's claims (unverified: ICA verifies it), None if absent."""
    parts = token.split(".")
    if len(parts) != 3:
        return None, None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None, None
    if not isinstance(claims, dict):
        return None, None
    exp, iat = claims.get("exp"), claims.get("iat")
    number = (int, float)
    return (
        float(exp) if isinstance(exp, number) else None,
        float(iat) if isinstance(iat, number) else None,
    )


@dataclass
class Token:
    """A JWT and when to renew it (epoch seconds; None: until ICA refuses it)."""

    value: str = field(repr=False)
    renew_at: float | None

    @classmethod
    def of(cls, value: str) -> Token:
        exp, iat = expiry_of(value)
        if exp is None:
            return cls(value, None)
        margin = RENEW_BEFORE if iat is None else min(RENEW_BEFORE, max(exp - iat, 0) / 2)
        return cls(value, exp - margin)


class TokenCache:
    """The process's JWTs, one per (REST root, key hash); thread-safe."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.now = now
        self._tokens: dict[Slot, Token] = {}
        self._refused: set[Slot] = set()
        self._lock = threading.Lock()

    def get(self, slot: Slot) -> Token | None:
        with self._lock:
            token = self._tokens.get(slot)
        if token is not None and token.renew_at is not None and self.now() >= token.renew_at:
            return None
        return token

    def put(self, slot: Slot, token: Token) -> None:
        with self._lock:
            self._tokens[slot] = token

    def drop(self, slot: Slot, value: str) -> bool:
        """Forget ``value`` if it is still the slot's token; True if it was."""
        with self._lock:
            token = self._tokens.get(slot)
            if token is None or token.value != value:
                return False
            del self._tokens[slot]
            return True

    def refuse(self, slot: Slot) -> None:
        with self._lock:
            self._refused.add(slot)

    def refused(self, slot: Slot) -> bool:
        with self._lock:
            return slot in self._refused

    def clear(self) -> None:
        """Forget every token and refusal (tests; a new login)."""
        with self._lock:
            self._tokens.clear()
            self._refused.clear()

    def __repr__(self) -> str:
        return f"TokenCache({len(self._tokens)} tokens)"


#: The one cache of this process.
TOKENS = TokenCache()


class Credentials:
    """What a backend's requests authenticate with: the cached JWT, else the key,
    else ``ICAV2_ACCESS_TOKEN`` as given."""

    def __init__(self, settings: IcaSettings, cache: TokenCache = TOKENS) -> None:
        self.settings = settings
        self.cache = cache

    def __repr__(self) -> str:
        return "Credentials(***)"

    def _key(self) -> str | None:
        key = self.settings.x_api_key
        return key.get_secret_value() if key is not None and key.get_secret_value() else None

    def _slot(self, key: str) -> Slot:
        return (self.settings.api_base, hashlib.sha256(key.encode()).hexdigest())

    def token(self) -> str | None:
        """The JWT requests carry now (None: the key or the configured token)."""
        key = self._key()
        if key is None:
            return None
        found = self.cache.get(self._slot(key))
        return found.value if found else None

    def headers(self) -> tuple[dict[str, str], tuple[str, ...]]:
        """``(auth headers, secrets they hold)``; ConfigError without credentials."""
        token = self.token()
        if token is not None:
            return {"Authorization": f"Bearer {token}"}, (token,)
        headers = self.settings.auth_headers()
        return headers, tuple(headers.values())

    def ready(self) -> Exchange[None]:
        """Make sure a JWT is at hand when the key can be exchanged for one."""
        headers = self.settings.auth_headers()  # ConfigError before any request
        key = self._key()
        if key is None or self.token() is not None:
            return
        slot = self._slot(key)
        if self.cache.refused(slot):
            return
        try:
            resp = yield request(
                "POST",
                self.settings.api_base + "/api/tokens",
                headers={**headers, "Accept": V3},
                read_only=True,  # mints nothing lasting: safe to repeat, done in dry runs
                purpose="exchange the API key for a JWT",
            )
            value = _token_in(response_json(resp))
        except PlatformError as error:
            if error.status in DOWN:
                raise
            if error.status in REFUSED:
                self.cache.refuse(slot)
            return  # the key works everywhere: this operation uses it
        if value is not None:
            self.cache.put(slot, Token.of(value))

    def forget(self, token: str | None) -> bool:
        """After a 401: drop ``token`` if it is the cached JWT; True if so (retry once)."""
        key = self._key()
        if key is None or token is None:
            return False
        return self.cache.drop(self._slot(key), token)


def _token_in(data: Any) -> str | None:
    value = data.get("token") if isinstance(data, dict) else None
    return value if isinstance(value, str) and value else None
