"""The runhub exception hierarchy.

Every expected failure is a :class:`RunhubError`. Each class carries the CLI exit
code it maps to, so the CLI turns any of them into one clear line and that code,
never a traceback. Messages never contain secrets: they are built from redacted
request descriptions and platform answers only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class RunhubError(Exception):
    """Base of every error runhub raises on purpose."""

    exit_code: int = 4

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class SpecError(RunhubError):
    """A run spec is invalid: names the file, the field path and the problem.

    ``str(err)`` reads ``run.yaml: parameters.threads: expected a scalar ...``.
    """

    exit_code = 2

    def __init__(
        self,
        problem: str,
        *,
        field: str | None = None,
        file: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.field = field
        self.file = file
        prefix = "".join(f"{part}: " for part in (file, field) if part)
        super().__init__(f"{prefix}{problem}", hint=hint)

    def in_file(self, file: str) -> SpecError:
        """The same error, attributed to ``file`` (used by loaders)."""
        return SpecError(self.problem, field=self.field, file=file, hint=self.hint)


class ConfigError(RunhubError):
    """Missing or malformed settings; names what to set and where."""

    exit_code = 2


class Unsupported(RunhubError):
    """The chosen backend cannot express part of the spec."""

    exit_code = 2


class PlatformError(RunhubError):
    """The platform answered with an error.

    ``status`` is the HTTP status, ``code`` the platform's own error code (ICA's
    problem ``title``), ``detail`` its explanation and ``parameters`` any extra
    fields it returned.
    """

    exit_code = 4

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        detail: str | None = None,
        parameters: Mapping[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.detail = detail
        self.parameters = dict(parameters or {})


class AuthError(PlatformError):
    """401 or 403: the credentials are missing, wrong, or lack permission."""

    exit_code = 3


class NotFound(PlatformError):
    """The platform (or a lookup runhub made) found no such thing."""

    def __init__(
        self,
        message: str,
        *,
        candidates: Sequence[str] = (),
        status: int | None = 404,
        **kwargs: Any,
    ) -> None:
        self.candidates = list(candidates)
        if self.candidates and "hint" not in kwargs:
            kwargs["hint"] = "did you mean " + ", ".join(self.candidates[:5]) + "?"
        super().__init__(message, status=status, **kwargs)


class RateLimited(PlatformError):
    """429 answers went on past the retry budget."""


class TransportError(RunhubError):
    """The network failed (connect, timeout, dropped connection) past the retry budget."""

    exit_code = 4


class AmbiguousLaunch(TransportError):
    """A non-idempotent request failed in a way that leaves its effect unknown.

    The request may or may not have reached the platform. The transport never
    retries such a request; the backend looks the run up before launching again.
    """

    def __init__(self, message: str, *, method: str = "", url: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.url = url


class NotYetListed(AmbiguousLaunch):
    """An interrupted launch whose run the platform does not list yet.

    A request whose answer was lost may still be queued or in progress on the
    platform, so an empty listing right after it proves nothing. ``wait`` is how
    long until the platform's listing can be trusted (the backend's
    ``capabilities.launch_settle`` after the failure). With a ledger the launch is
    looked up again then, and sent again only if still not listed; without one it
    is an ordinary :class:`AmbiguousLaunch` for the caller to settle.
    """

    def __init__(self, message: str, *, wait: float, method: str = "", url: str = "") -> None:
        super().__init__(message, method=method, url=url)
        self.wait = wait


class LedgerError(RunhubError):
    """The ledger cannot be read or written (disk full, unreadable, locked, too new).

    Nothing is launched without its record, so a launch command stops at once: a
    run whose answer could not be recorded is adopted when the same command runs
    again. The message names the ledger and what to do.
    """

    exit_code = 2


class LedgerLost(LedgerError):
    """The ledger has lost launches it once recorded (replaced, truncated, restored
    from an older copy), or the platform holds runs of a batch that it does not
    know: launching now could start those runs a second time."""


class WaitTimeout(RunhubError):
    """``wait`` reached its deadline; the run was left alone (not cancelled)."""

    exit_code = 124

    def __init__(self, message: str, *, last: Any = None) -> None:
        super().__init__(message)
        self.last = last


def is_transient(error: BaseException) -> bool:
    """True for an error a later try may not meet: the network failing, or the
    platform answering 5xx, past the transport's retries (not a rate limit, not
    an answer about the request itself)."""
    if isinstance(error, TransportError):
        return True
    return type(error) is PlatformError and (error.status or 500) >= 500


__all__ = [
    "AmbiguousLaunch",
    "AuthError",
    "ConfigError",
    "LedgerError",
    "LedgerLost",
    "NotFound",
    "NotYetListed",
    "PlatformError",
    "RateLimited",
    "RunhubError",
    "SpecError",
    "TransportError",
    "Unsupported",
    "WaitTimeout",
    "is_transient",
]
