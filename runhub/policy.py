"""What every request may do: the retry policy and secret redaction.

Kept apart from :mod:`runhub.transport` (and free of httpx at import time) so that
code paths that never speak HTTP, such as the ``local`` backend, stay light.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

#: Header names whose values are always masked when shown.
SENSITIVE_HEADERS = frozenset(
    {"authorization", "x-api-key", "cookie", "set-cookie", "proxy-authorization"}
)
MASK = "***"


@dataclass(frozen=True)
class RetryPolicy:
    """How hard runhub tries one request before giving up.

    ``attempts`` bounds the tries per request and ``budget`` the seconds spent on
    them (retries stop at whichever comes first), so a platform that keeps failing
    gives a clear error in bounded time, never an endless loop.
    """

    attempts: int = 8
    budget: float = 120.0
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 0.5
    #: A ``Retry-After`` longer than this is capped (some proxies send hours).
    max_retry_after: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    write_timeout: float = 30.0
    pool_timeout: float = 30.0

    def timeout(self) -> httpx.Timeout:
        """The httpx timeouts for each request."""
        import httpx

        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.write_timeout,
            pool=self.pool_timeout,
        )


@dataclass
class Redactor:
    """Masks secrets in any text before it is logged, printed or raised."""

    secrets: list[str] = field(default_factory=list)

    def add(self, values: Iterable[str]) -> None:
        for value in values:
            if value and len(value) >= 4 and value not in self.secrets:
                self.secrets.append(value)
        self.secrets.sort(key=len, reverse=True)  # longest first: no partial leftovers

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def data(self, value: Any) -> Any:
        """``value`` (JSON-like: dicts, lists, strings) with every string redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self.data(k): self.data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value

    def headers(self, headers: httpx.Headers) -> dict[str, str]:
        """Headers safe to show: sensitive ones masked, the rest redacted."""
        return {
            key: MASK if key.lower() in SENSITIVE_HEADERS else self(value)
            for key, value in headers.items()
        }

    def __repr__(self) -> str:
        return f"Redactor({len(self.secrets)} secrets)"


def describe(request: httpx.Request, redact: Redactor) -> str:
    """``METHOD url`` with secrets masked, for logs and messages."""
    return redact(f"{request.method} {request.url}")
