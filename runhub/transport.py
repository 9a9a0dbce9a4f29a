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

What each outcome means is decided in :mod:`runhub.attempts` (``DriverBase``); this
module holds only the drivers, which send the requests and wait.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Generator
from typing import Any, TypeVar, cast

import httpx

from runhub.attempts import (
    OWN_RETRIES,
    DriverBase,
    Retryable,
    retry_after,
    user_agent,
)
from runhub.backend import Backend, Operation, is_read_only
from runhub.errors import (
    RunhubError,
)
from runhub.gather import Together
from runhub.limits import DeadlinePassed, TooLarge, aread_capped, read_capped, within
from runhub.pacing import Pacer
from runhub.policy import Redactor, RetryPolicy

__all__ = [
    "AsyncDriver",
    "Pacer",
    "Redactor",
    "RetryPolicy",
    "SyncDriver",
    "retry_after",
    "user_agent",
]

T = TypeVar("T")


class SyncDriver(DriverBase):
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
        own = OWN_RETRIES.set(True)
        first = time.monotonic()
        try:
            for attempt in self._retry_context():
                with attempt:
                    try:
                        return self._send_once(request)
                    except Retryable as retry:
                        self._schedule(request, retry, attempt.num, first)
                        raise
        except Retryable as exhausted:
            raise exhausted.error from None
        finally:
            OWN_RETRIES.reset(own)
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


class AsyncDriver(DriverBase):
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
        own = OWN_RETRIES.set(True)
        first = time.monotonic()
        try:
            async for attempt in self._retry_context():
                with attempt:
                    try:
                        return await self._send_once(request)
                    except Retryable as retry:
                        self._schedule(request, retry, attempt.num, first)
                        raise
        except Retryable as exhausted:
            raise exhausted.error from None
        finally:
            OWN_RETRIES.reset(own)
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
