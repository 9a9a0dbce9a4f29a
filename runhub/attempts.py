"""What one attempt's outcome means: the classification both drivers share.

:class:`DriverBase` prepares each request (timeouts, ``User-Agent``, the secrets it
carries) and turns each attempt's outcome into an answer, a :class:`Retryable`
failure (with its wait), or a final error, by the rules listed in
:mod:`runhub.transport`. The drivers there add only how requests are sent (sync or
async) and waited on.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, NoReturn

import httpx
import stamina

from runhub.backend import PURPOSE, SECRETS, Backend, is_idempotent, is_read_only
from runhub.errors import (
    AmbiguousLaunch,
    PlatformError,
    RateLimited,
    RunhubError,
    TransportError,
)
from runhub.limits import DeadlinePassed, Silence, TooLarge
from runhub.netfail import classify
from runhub.pacing import Pacer
from runhub.policy import Redactor, RetryPolicy, describe

log = logging.getLogger("runhub.transport")
#: One record per retry scheduled: ``retrying in 4 s (2/5): connection refused``.
retry_log = logging.getLogger("runhub.retry")

#: True while this context is inside one of runhub's retry loops.
OWN_RETRIES: ContextVar[bool] = ContextVar("runhub_own_retries", default=False)


class _OwnRetriesAtDebug(logging.Filter):
    """stamina's warning for each retry runhub itself schedules is shown only when
    the ``stamina`` logger is set to DEBUG.

    The transport already logs every failed attempt (``runhub.transport``), and
    with logging left unconfigured Python prints stamina's record as a bare
    ``stamina.retry_scheduled`` line per paced-out request. Retries of other code
    using stamina are untouched.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not OWN_RETRIES.get() or logging.getLogger("stamina").isEnabledFor(logging.DEBUG)


logging.getLogger("stamina").addFilter(_OwnRetriesAtDebug())


def user_agent(backend: Backend) -> str:
    """``runhub/<version> <backend>/<version>`` (the backend part only if it has one)."""
    from runhub import __version__

    mine = f"runhub/{__version__}"
    return f"{mine} {backend.name}/{backend.version}" if backend.version else mine


def retry_after(response: httpx.Response, cap: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), cap)


class Retryable(Exception):
    """One attempt failed in a retryable way; ``error`` is raised if retries run out.

    ``reason`` is the few words a retry notice shows; ``unreachable`` marks connection
    refused / unknown host, ``silent`` any failure in which nothing came back."""

    def __init__(
        self,
        error: RunhubError,
        wait: float | None = None,
        *,
        reason: str = "",
        unreachable: bool = False,
        silent: bool = False,
    ) -> None:
        super().__init__(str(error))
        self.error = error
        self.wait = wait
        self.reason = reason or str(error)
        self.unreachable = unreachable
        self.silent = silent


def _backoff(exc: Exception) -> bool | float:
    if isinstance(exc, Retryable):
        return exc.wait if exc.wait is not None else True
    return False


#: Answers after which the request may or may not have taken effect.
_SERVER_ERRORS = frozenset({500, 502, 503, 504})
_NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_AMBIGUOUS = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


class DriverBase:
    """The classification both drivers share: what one attempt's outcome means."""

    def __init__(
        self,
        backend: Backend,
        policy: RetryPolicy | None = None,
        redact: Redactor | None = None,
    ) -> None:
        self.backend = backend
        self.policy = policy or RetryPolicy()
        self.redact = redact or Redactor()
        self.redact.add(backend.secrets())
        #: Requests sent, including retries (benchmarks and tests read this).
        self.sent = 0
        #: Sent with every request: some firewalls refuse requests without one.
        self.user_agent = user_agent(backend)
        self.pacer = Pacer()
        self.silence = Silence(self.policy.silence_limit)

    def learn_secrets(self, request: httpx.Request) -> None:
        """Mask, from now on, the secrets a request says it carries (``SECRETS``)."""
        carried = request.extensions.get(SECRETS)
        if carried:
            self.redact.add(carried)

    def _prepare(self, request: httpx.Request) -> None:
        self.learn_secrets(request)
        request.extensions.setdefault("timeout", self.policy.timeout().as_dict())
        if "user-agent" not in request.headers:
            request.headers["User-Agent"] = self.user_agent

    def _retry_context(self) -> Any:
        p = self.policy
        return stamina.retry_context(
            on=_backoff,
            attempts=p.attempts,
            timeout=p.budget,
            wait_initial=p.wait_initial,
            wait_max=p.wait_max,
            wait_jitter=p.wait_jitter,
        )

    def _schedule(
        self, request: httpx.Request, retry: Retryable, attempt: int, first: float
    ) -> None:
        """After a retryable failure: raise the final error, or fix the wait before
        the next attempt (stamina sleeps it) and announce it."""
        p = self.policy
        wait = retry.wait
        if wait is None:  # stamina's formula: exponential, jittered, capped
            wait = min(
                p.wait_max, p.wait_initial * 2 ** (attempt - 1) + random.uniform(0, p.wait_jitter)
            )
        elapsed = time.monotonic() - first
        if attempt >= p.attempts or elapsed + wait > p.budget:
            raise retry.error
        never_answered = _origin(request.url) not in self.silence.reached
        if retry.unreachable and never_answered and elapsed + wait > p.unreachable_for:
            raise retry.error  # a wrong URL, most likely
        if retry.silent and self.silence.exceeded():
            raise self._silent(request, retry.reason)
        retry.wait = wait
        retry_log.info(
            "retrying in %s (%d/%d): %s",
            _seconds(wait),
            attempt + 1,
            p.attempts,
            retry.reason,
            extra={"runhub_wait": wait},
        )

    def _silent(self, request: httpx.Request, last: str | None = None) -> TransportError:
        seconds = self.silence.silent_for()
        after = f" (last: {last})" if last else ""
        return TransportError(
            f"{describe(request, self.redact)}: not sent: {_origin(request.url)} has not"
            f" answered for {seconds:.0f} s{after}; stopping",
            hint="nothing more is sent to it by this command; run it again when the"
            " platform answers (RUNHUB_SILENCE_LIMIT sets the limit)",
        )

    def _admit(self, request: httpx.Request) -> bool:
        """Raise if the platform has been silent too long; True for a probe."""
        verdict = self.silence.admit()
        if verdict == "refuse":
            raise self._silent(request)
        return verdict == "probe"

    def _ambiguous(
        self,
        request: httpx.Request,
        what: str,
        cause: RunhubError,
        wait: float | None = None,
        *,
        silent: bool = False,
    ) -> NoReturn:
        if is_idempotent(request):
            raise Retryable(cause, wait, reason=what, silent=silent)
        context = describe(request, self.redact)
        raise AmbiguousLaunch(
            f"{context}: {what}; the request may or may not have taken effect",
            method=request.method,
            url=self.redact(str(request.url)),
        )

    def _failed(self, request: httpx.Request, exc: httpx.HTTPError, started: float) -> NoReturn:
        self.silence.unanswered(started)
        failure = classify(exc, request.url)
        context = describe(request, self.redact)
        if isinstance(exc, DeadlinePassed):
            what = str(exc)
        else:
            what = self.redact(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        self._log(request, what, started, logging.WARNING)
        error = TransportError(f"{context}: {what}", hint=failure.hint)
        if failure.final:
            raise error from None
        if isinstance(exc, _NOTHING_SENT):
            raise Retryable(
                error, reason=failure.reason, unreachable=failure.unreachable, silent=True
            )
        if isinstance(exc, _AMBIGUOUS):
            self._ambiguous(request, failure.reason, error, silent=True)
        raise error from None

    def _too_large(self, request: httpx.Request, exc: TooLarge) -> NoReturn:
        self.silence.answered(_origin(request.url))
        context = describe(request, self.redact)
        size = f" ({exc.declared} bytes announced)" if exc.declared else ""
        what = f"the answer is larger than the {exc.limit}-byte cap{size}; stopped reading"
        self._log(request, what, time.monotonic(), logging.WARNING)
        if request.method == "POST" and not is_read_only(request):
            raise AmbiguousLaunch(
                f"{context}: {what}; the request may or may not have taken effect",
                method=request.method,
                url=self.redact(str(request.url)),
            )
        raise PlatformError(
            f"{context} -> {exc.status}: {what}",
            status=exc.status,
            hint="set RUNHUB_MAX_RESPONSE higher (e.g. 512MiB) if this answer is expected",
        )

    def _check(
        self, request: httpx.Request, response: httpx.Response, started: float
    ) -> httpx.Response:
        self.silence.answered(_origin(request.url))
        status = response.status_code
        # 429/503 are retried (flow control, not failures): shown with -v, not by default
        quiet = status < 400 or status in (429, 503)
        self._log(request, str(status), started, logging.INFO if quiet else logging.WARNING)
        if status == 429:
            wait = retry_after(response, self.policy.max_retry_after)
            self.pacer.throttle(wait, sent_at=started)
            raise Retryable(
                self._rate_limited(request, response), wait, reason="429 Too Many Requests"
            )
        self.pacer.success()
        if status == 409 and "idempotency-key" in request.headers:
            # ICA (spec text on every keyed create): the first request with this key is
            # still being processed. Ask again with the same key; if it never settles,
            # the outcome is unknown, never "nothing was created".
            wait = retry_after(response, self.policy.max_retry_after)
            context = describe(request, self.redact)
            raise Retryable(
                AmbiguousLaunch(
                    f"{context} -> 409: a request with this Idempotency-Key is still in"
                    " progress on the platform; the run may or may not exist",
                    method=request.method,
                    url=self.redact(str(request.url)),
                ),
                wait,
                reason="409: the first request with this key is still in progress",
            )
        if status == 500 and is_read_only(request):
            raise self._error(request, response)  # nothing to be unsure about: a server bug
        if status in _SERVER_ERRORS:
            # The server may have done the work before failing to answer: retried only
            # when repeating cannot duplicate it, otherwise the backend looks first.
            wait = retry_after(response, self.policy.max_retry_after) if status == 503 else None
            what = (
                f"{status} from the server" if status in (500, 503) else f"{status} from a gateway"
            )
            self._ambiguous(request, what, self._error(request, response), wait)
        if status >= 400:
            raise self._error(request, response)
        if _truncated_json(response):
            context = describe(request, self.redact)
            self._ambiguous(
                request,
                f"{status} with a truncated JSON body",
                PlatformError(f"{context} -> {status} with a malformed JSON body", status=status),
            )
        return response

    def _rate_limited(self, request: httpx.Request, response: httpx.Response) -> RateLimited:
        """The backend's RateLimited for a 429 (keeping the platform's message), or
        a plain one when the backend reads 429 as something else."""
        error = self._error(request, response)
        if isinstance(error, RateLimited):
            return error
        detail = error.detail if isinstance(error, PlatformError) else None
        if detail and detail.strip("{}[] "):  # the platform said something: keep it
            return RateLimited(error.message, status=429, detail=detail, hint=error.hint)
        context = describe(request, self.redact)
        return RateLimited(f"{context} -> 429 Too Many Requests", status=429)

    def _error(self, request: httpx.Request, response: httpx.Response) -> RunhubError:
        # Redacted before the backend cuts its excerpt: a secret cut in half by the
        # excerpt would no longer be recognised whole.
        error = self.backend.error_for(self._redacted(response), describe(request, self.redact))
        return self.scrub(error)

    def _redacted(self, response: httpx.Response) -> httpx.Response:
        """``response`` with every secret (and fragment of one) masked in its body and
        headers; the same object when there was nothing to mask."""
        try:
            text = response.text
        except Exception:  # undecodable: the backend reports it as unreadable anyway
            return response
        clean = self.redact(text)
        raw = [(k, v) for k, v in response.headers.items()]
        headers = [(k, self.redact(v)) for k, v in raw]
        if clean == text and headers == raw:
            return response
        kept = [
            (k, v) for k, v in headers if k.lower() not in ("content-length", "content-encoding")
        ]
        return httpx.Response(
            response.status_code,
            headers=kept,
            content=clean.encode(response.encoding or "utf-8", errors="replace"),
            request=response.request,
        )

    def scrub(self, error: RunhubError) -> RunhubError:
        """``error`` with its message and details redacted (in place)."""
        error.message = self.redact(error.message)
        error.args = (error.message,)
        if error.hint:
            error.hint = self.redact(error.hint)
        if isinstance(error, PlatformError):
            # Platforms may quote the request (headers included) anywhere in the answer.
            error.detail = error.detail and self.redact(error.detail)
            error.code = error.code and self.redact(error.code)
            error.parameters = self.redact.data(error.parameters)
        return error

    def _log(self, request: httpx.Request, outcome: str, started: float, level: int) -> None:
        if log.isEnabledFor(level):
            ms = (time.monotonic() - started) * 1000
            purpose = request.extensions.get(PURPOSE)
            suffix = f" [{purpose}]" if purpose else ""
            where = describe(request, self.redact)
            log.log(level, "%s -> %s (%.0f ms)%s", where, outcome, ms, suffix)


def _origin(url: httpx.URL) -> str:
    return f"{url.scheme}://{url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"


def _seconds(wait: float) -> str:
    return f"{wait:.1f} s" if wait < 10 else f"{wait:.0f} s"


def _truncated_json(response: httpx.Response) -> bool:
    """True if a JSON response body does not parse (cut off in transit)."""
    ctype = response.headers.get("content-type", "")
    if "json" not in ctype or not response.content:
        return False
    try:
        response.json()
    except ValueError:
        return True
    return False
