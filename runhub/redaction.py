"""Secret redaction: the one place that decides what of a secret may be shown.

The rule (docs/reliability.md, "Secrets"): no run of :data:`FRAGMENT` or more
characters of a secret, or of any base64 encoding of a text that contains it (an
HTTP Basic credential, whatever the user name), survives in text that runhub logs,
prints, raises or stores. Whole secrets are replaced first; then every window of
``FRAGMENT`` characters that belongs to a secret is masked, so a secret cut short
by an excerpt ("...token=ab12cd34ef…") is masked as well as a whole one.

Free of httpx at import time (only type hints name it).
"""

from __future__ import annotations

import base64
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
#: The shortest run of a secret's characters that is masked wherever it appears.
FRAGMENT = 8


def base64_cores(secret: str) -> list[str]:
    """The base64 characters that encode ``secret`` alone, at each of the three byte
    alignments: any base64 text of a string containing ``secret`` (``user:secret``,
    ``secret:``) contains one of them."""
    raw = secret.encode()
    cores = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw + b"\0\0").decode()
        # character k holds bits 6k..6k+5; keep those made of the secret's bits only
        first = -(-8 * shift // 6)
        last = 8 * (shift + len(raw)) // 6
        cores.append(encoded[first:last])
    return cores


@dataclass
class Redactor:
    """Masks secrets, and every fragment of one, in any text before it is logged,
    printed, raised or stored."""

    secrets: list[str] = field(default_factory=list)
    _windows: set[str] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        given, self.secrets = self.secrets, []
        self.add(given)

    def add(self, values: Iterable[str]) -> None:
        """Remember more secrets (values shorter than 4 characters are ignored)."""
        for value in values:
            if not value or len(value) < 4 or value in self.secrets:
                continue
            self.secrets.append(value)
            for form in (value, *base64_cores(value)):
                self._windows.update(
                    form[i : i + FRAGMENT] for i in range(len(form) - FRAGMENT + 1)
                )
        self.secrets.sort(key=len, reverse=True)  # longest first: no partial leftovers

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if self._windows and len(text) >= FRAGMENT:
            text = self._mask_fragments(text)
        return text

    def _mask_fragments(self, text: str) -> str:
        windows = self._windows
        spans: list[list[int]] = []
        for start in range(len(text) - FRAGMENT + 1):
            if text[start : start + FRAGMENT] in windows:
                end = start + FRAGMENT
                if spans and start <= spans[-1][1]:
                    spans[-1][1] = end  # overlapping windows: one masked run
                else:
                    spans.append([start, end])
        if not spans:
            return text
        parts, done = [], 0
        for start, end in spans:
            parts.append(text[done:start])
            parts.append(MASK)
            done = end
        parts.append(text[done:])
        return "".join(parts)

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
