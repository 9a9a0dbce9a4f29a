"""Drive backend exchanges over httpx, with retries that cannot duplicate a run.

One retry policy (DESIGN.md §6) serves the sync driver (``httpx.Client``), the async
driver (``httpx.AsyncClient``) and the dry-run driver:

- every request has connect/read/write/pool timeouts, each attempt an overall
  deadline, and each answer a size cap (:mod:`runhub.limits`);
- errors no retry can fix (a certificate that does not verify, TLS to a plain-HTTP
  server) are final at once, with a hint (:mod:`runhub.netfail`); connection refused
  or an unknown host is retried only briefly while the platform has never answered;
- when the platform has answered nothing for ``RetryPolicy.silence_limit``, requests
  are no longer sent (one probe at a time), so a dead platform ends a batch in
  bounded time;
- 429 is retried, honouring ``Retry-After`` (seconds or HTTP date): a rate limiter
  answers before any work is done;
- errors where nothing reached the server (connect errors) are retried;
- ambiguous failures (read timeout, dropped connection, 502, 503, 504, a truncated
  JSON body, and 500 to a request that changes something) are retried only for
  idempotent requests (503 honouring ``Retry-After``); otherwise
  :class:`AmbiguousLaunch` is thrown into the exchange, which decides how to
  recover. A 500 to a read is the platform's answer, reported at once;
- 409 to a request carrying an ``Idempotency-Key`` (ICA: the first request with that
  key is still in progress) is retried with the same key; if it never settles,
  :class:`AmbiguousLaunch`;
- any other error answer becomes the backend's error (``Backend.error_for``).

Backoff is exponential with jitter (computed here, waited by stamina); a retry is
announced on the ``runhub.retry`` logger (the CLI shows waits over a second). Every
log line and error message goes through a :class:`Redactor` first, and error
answers are redacted *before* a backend cuts its excerpt from them.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Generator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar, cast

import httpx
import stamina

from runhub.backend import PURPOSE, SECRETS, Backend, Operation, is_idempotent, is_read_only
from runhub.errors import (
    AmbiguousLaunch,
    PlatformError,
    RateLimited,
    RunhubError,
    TransportError,
)
from runhub.gather import Together
from runhub.limits import DeadlinePassed, Silence, TooLarge, aread_capped, read_capped, within
from runhub.netfail import classify
from runhub.pacing import Pacer
from runhub.policy import Redactor, RetryPolicy, describe

T = TypeVar("T")
log = logging.getLogger("runhub.transport")
#: One record per retry scheduled: ``retrying in 4 s (2/5): connection refused``.
retry_log = logging.getLogger("runhub.retry")

#: True while this context is inside one of runhub's retry loops.
_OWN_RETRIES: ContextVar[bool] = ContextVar("runhub_own_retries", default=False)


class _OwnRetriesAtDebug(logging.Filter):
    """stamina's warning for each retry runhub itself schedules is shown only when
    the ``stamina`` logger is set to DEBUG.

    The transport already logs every failed attempt (``runhub.transport``), and
    with logging left unconfigured Python prints stamina's record as a bare
    ``stamina.retry_scheduled`` line per paced-out request. Retries of other code
    using stamina are untouched.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not _OWN_RETRIES.get() or logging.getLogger("stamina").isEnabledFor(logging.DEBUG)


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


class _Retry(Exception):
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
    if isinstance(exc, _Retry):
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


class _Policy:
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

    def _schedule(self, request: httpx.Request, retry: _Retry, attempt: int, first: float) -> None:
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
            raise _Retry(cause, wait, reason=what, silent=silent)
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
            raise _Retry(error, reason=failure.reason, unreachable=failure.unreachable, silent=True)
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
            raise _Retry(
                self._rate_limited(request, response), wait, reason="429 Too Many Requests"
            )
        self.pacer.success()
        if status == 409 and "idempotency-key" in request.headers:
            # ICA (spec text on every keyed create): the first request with this key is
            # still being processed. Ask again with the same key; if it never settles,
            # the outcome is unknown, never "nothing was created".
            wait = retry_after(response, self.policy.max_retry_after)
            context = describe(request, self.redact)
            raise _Retry(
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


class SyncDriver(_Policy):
    """Runs operations with a shared ``httpx.Client``."""

    def __init__(
        self,
        http: httpx.Client,
        backend: Backend,
        policy: RetryPolicy | None = None,
        redact: Redactor | None = None,
    ) -> None:
        super().__init__(backend, policy, redact)
        self.http = http

    def send(self, request: httpx.Request) -> httpx.Response:
        """Send one request under the retry policy; raises runhub errors."""
        self._prepare(request)
        own = _OWN_RETRIES.set(True)
        first = time.monotonic()
        try:
            for attempt in self._retry_context():
                with attempt:
                    try:
                        return self._send_once(request)
                    except _Retry as retry:
                        self._schedule(request, retry, attempt.num, first)
                        raise
        except _Retry as exhausted:
            raise exhausted.error from None
        finally:
            _OWN_RETRIES.reset(own)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_once(self, request: httpx.Request) -> httpx.Response:
        pause = self.pacer.delay()
        if pause > 0:
            time.sleep(pause)
        probe = self._admit(request)
        started = time.monotonic()
        self.sent += 1
        try:
            # on a worker thread: a server trickling its headers cannot outlast the deadline
            response = within(self.policy.deadline, lambda: self._exchange(request))
        except httpx.HTTPError as exc:
            self._failed(request, exc, started)
        except TooLarge as exc:
            self._too_large(request, exc)
        finally:
            if probe:
                self.silence.probe_done()
        return self._check(request, response, started)

    def _exchange(self, request: httpx.Request) -> httpx.Response:
        deadline_at = time.monotonic() + self.policy.deadline
        response = self.http.send(request, stream=True)
        try:
            read_capped(response, self.policy.max_response_bytes, deadline_at)
        finally:
            response.close()
        return response

    def run(self, op: Operation[T]) -> T:
        """Drive an exchange to its result (plain values pass straight through)."""
        if not isinstance(op, Generator):
            return op
        gen = cast(Generator[Any, Any, T], op)
        try:
            request = next(gen)
            while True:
                if isinstance(request, Together):
                    request = gen.send(None)  # one request at a time
                    continue
                try:
                    response = self.send(request)
                except RunhubError as error:
                    request = gen.throw(error)
                else:
                    request = gen.send(response)
        except StopIteration as stop:
            return cast(T, stop.value)
        except RunhubError as error:  # raised by the backend itself: redacted too
            raise self.scrub(error) from error.__cause__


def _retrieved(task: asyncio.Task[Any]) -> None:
    """Mark a shared request's error as seen (every waiter may have gone)."""
    if not task.cancelled():
        task.exception()


class AsyncDriver(_Policy):
    """Runs operations with a shared ``httpx.AsyncClient``."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        backend: Backend,
        policy: RetryPolicy | None = None,
        redact: Redactor | None = None,
    ) -> None:
        super().__init__(backend, policy, redact)
        self.http = http
        self._inflight: dict[
            tuple[str, str, tuple[tuple[bytes, bytes], ...], bytes], asyncio.Task[Any]
        ] = {}

    async def send(self, request: httpx.Request) -> httpx.Response:
        """Send one request under the retry policy; raises runhub errors.

        Identical read-only requests in flight at the same time share one request and
        its answer: the first launches of a batch all look up the same pipeline (or
        exchange the same key for a token) before any answer is cached, and would
        otherwise each ask.
        """
        if not is_read_only(request):
            return await self._send(request)
        key = (request.method, str(request.url), tuple(request.headers.raw), request.content)
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.ensure_future(self._send(request))
            task.add_done_callback(_retrieved)
            self._inflight[key] = task
            task.add_done_callback(lambda _: self._inflight.pop(key, None))
        response: httpx.Response = await asyncio.shield(task)
        return response

    async def _send(self, request: httpx.Request) -> httpx.Response:
        self._prepare(request)
        own = _OWN_RETRIES.set(True)
        first = time.monotonic()
        try:
            async for attempt in self._retry_context():
                with attempt:
                    try:
                        return await self._send_once(request)
                    except _Retry as retry:
                        self._schedule(request, retry, attempt.num, first)
                        raise
        except _Retry as exhausted:
            raise exhausted.error from None
        finally:
            _OWN_RETRIES.reset(own)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send_once(self, request: httpx.Request) -> httpx.Response:
        pause = self.pacer.delay()
        if pause > 0:
            await asyncio.sleep(pause)
        probe = self._admit(request)
        started = time.monotonic()
        self.sent += 1
        try:
            try:
                async with asyncio.timeout(self.policy.deadline):
                    response = await self.http.send(request, stream=True)
                    try:
                        await aread_capped(response, self.policy.max_response_bytes)
                    finally:
                        await response.aclose()
            except TimeoutError:
                raise DeadlinePassed(
                    f"no complete answer within the {self.policy.deadline:g} s deadline"
                ) from None
        except httpx.HTTPError as exc:
            self._failed(request, exc, started)
        except TooLarge as exc:
            self._too_large(request, exc)
        finally:
            if probe:
                self.silence.probe_done()
        return self._check(request, response, started)

    async def run(self, op: Operation[T]) -> T:
        """Drive an exchange to its result (plain values pass straight through)."""
        if not isinstance(op, Generator):
            return op
        gen = cast(Generator[Any, Any, T], op)
        try:
            request = next(gen)
            while True:
                if isinstance(request, Together):
                    request = gen.send(await self._outcome(request))
                    continue
                try:
                    response = await self.send(request)
                except RunhubError as error:
                    request = gen.throw(error)
                else:
                    request = gen.send(response)
        except StopIteration as stop:
            return cast(T, stop.value)
        except RunhubError as error:  # raised by the backend itself: redacted too
            raise self.scrub(error) from error.__cause__

    async def _outcome(self, item: httpx.Request | Together) -> Any:
        """A response or the error it ended in (a list for ``Together``, sent at once)."""
        if isinstance(item, Together):
            return list(await asyncio.gather(*(self._outcome(one) for one in item.requests)))
        try:
            return await self.send(item)
        except RunhubError as error:
            return error
