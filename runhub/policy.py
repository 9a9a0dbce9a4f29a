"""What every request may do: the retry policy, its limits, and secret redaction.

Kept apart from :mod:`runhub.transport` (and free of httpx at import time) so that
code paths that never speak HTTP, such as the ``local`` backend, stay light.

Every limit is bounded by default and can be changed by the user: the library takes
a :class:`RetryPolicy`, and clients built without one read the ``RUNHUB_*``
variables of :data:`ENVIRONMENT` (docs/reliability.md, "Limits").
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any

from runhub.redaction import MASK, SENSITIVE_HEADERS, Redactor

if TYPE_CHECKING:
    import httpx

MIB = 1 << 20


@dataclass(frozen=True)
class RetryPolicy:
    """How hard runhub tries one request before giving up.

    ``attempts`` bounds the tries per request and ``budget`` the seconds spent on
    them (retries stop at whichever comes first), so a platform that keeps failing
    gives a clear error in bounded time, never an endless loop. Each attempt ends
    within ``deadline`` seconds, however slowly the server trickles its answer;
    its body may hold at most ``max_response_bytes``.
    """

    attempts: int = 8
    budget: float = 120.0
    wait_initial: float = 0.5
    wait_max: float = 30.0
    wait_jitter: float = 0.5
    #: A ``Retry-After`` longer than this is capped (some proxies send hours).
    max_retry_after: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    write_timeout: float = 30.0
    pool_timeout: float = 30.0
    #: Seconds one attempt may take from sending to the last byte of the answer.
    deadline: float = 60.0
    #: The largest API answer read (an endless or huge body stops here).
    max_response_bytes: int = 64 * MIB
    #: Connection refused / unknown host to a platform that has not answered yet
    #: (a wrong URL) is retried for this long only, so a typo fails within seconds.
    unreachable_for: float = 4.0
    #: When nothing has come back from the platform for this long (every request
    #: timed out or found no server), requests stop being sent: each fails at once,
    #: but for one probe per ``silence_limit``, until an answer arrives.
    silence_limit: float = 60.0

    def timeout(self) -> httpx.Timeout:
        """The httpx timeouts for each request."""
        import httpx

        return httpx.Timeout(
            connect=self.connect_timeout,
            read=self.read_timeout,
            write=self.write_timeout,
            pool=self.pool_timeout,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        """The default policy with the ``RUNHUB_*`` variables of :data:`ENVIRONMENT`
        applied; a malformed value is a ConfigError naming the variable."""
        env = os.environ if environ is None else environ
        changes: dict[str, Any] = {}
        for variable, name in ENVIRONMENT.items():
            text = env.get(variable, "").strip()
            if text:
                changes[name] = _parse(variable, name, text)
        return replace(cls(), **changes) if changes else cls()


#: Environment variable -> RetryPolicy field (docs/reliability.md, "Limits").
ENVIRONMENT = {
    "RUNHUB_RETRY_ATTEMPTS": "attempts",
    "RUNHUB_RETRY_BUDGET": "budget",
    "RUNHUB_CONNECT_TIMEOUT": "connect_timeout",
    "RUNHUB_READ_TIMEOUT": "read_timeout",
    "RUNHUB_REQUEST_DEADLINE": "deadline",
    "RUNHUB_MAX_RESPONSE": "max_response_bytes",
    "RUNHUB_UNREACHABLE_FOR": "unreachable_for",
    "RUNHUB_SILENCE_LIMIT": "silence_limit",
}
_UNITS = {"": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 10**6, "mb": 10**6, "mib": MIB}
_UNITS |= {"g": 10**9, "gb": 10**9, "gib": 1 << 30}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)")


def _parse(variable: str, name: str, text: str) -> float | int:
    from runhub.errors import ConfigError

    kind = {f.name: f.type for f in fields(RetryPolicy)}[name]
    if name == "max_response_bytes":
        match = _SIZE.fullmatch(text.lower())
        if match and match.group(2) in _UNITS and float(match.group(1)) > 0:
            return int(float(match.group(1)) * _UNITS[match.group(2)])
        raise ConfigError(
            f"{variable}={text!r} is not a size", hint=f"e.g. {variable}=256MiB (or bytes)"
        )
    try:
        value = int(text) if kind == "int" else float(text)
    except ValueError:
        value = -1
    if value <= 0:
        what = "a whole number" if kind == "int" else "a number of seconds"
        raise ConfigError(f"{variable}={text!r} is not {what} above 0", hint=f"e.g. {variable}=5")
    return value


def describe(request: httpx.Request, redact: Redactor) -> str:
    """``METHOD url`` with secrets masked, for logs and messages."""
    return redact(f"{request.method} {request.url}")


__all__ = ["ENVIRONMENT", "MASK", "SENSITIVE_HEADERS", "Redactor", "RetryPolicy", "describe"]
