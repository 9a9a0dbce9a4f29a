"""Bounds on one answer and on a silent platform: the transport's limits.

- Each attempt is read under an overall deadline (``RetryPolicy.deadline``), not only
  per-read timeouts, so a server that trickles a byte every few seconds cannot hold
  a command forever. The async driver cancels the attempt; the sync driver runs it
  on a worker thread and stops waiting at the deadline (the worker notices at its
  next chunk and closes the connection).
- A body is read up to ``RetryPolicy.max_response_bytes`` (decoded): an endless or
  huge answer stops there with :class:`TooLarge`. A ``Content-Length`` above the
  cap is refused before reading.
- :class:`Silence` remembers when the platform last answered anything. Past
  ``RetryPolicy.silence_limit`` without an answer, requests are no longer sent,
  except one probe per ``silence_limit``, so a batch against a dead platform ends
  in bounded time instead of timing out row after row, and a long-lived client
  notices when the platform is back.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import httpx

T = TypeVar("T")


class TooLarge(Exception):
    """An answer exceeded the response size cap."""

    def __init__(self, limit: int, status: int, declared: int | None = None) -> None:
        self.limit = limit
        self.status = status
        self.declared = declared
        super().__init__(f"larger than {limit} bytes")


class DeadlinePassed(httpx.ReadTimeout):
    """The attempt did not complete within its overall deadline."""


def _declared(response: httpx.Response, limit: int) -> None:
    value = response.headers.get("content-length", "")
    if value.isdigit() and int(value) > limit and "content-encoding" not in response.headers:
        raise TooLarge(limit, response.status_code, int(value))


def read_capped(response: httpx.Response, limit: int, deadline_at: float) -> None:
    """Read a streamed ``response`` body into memory, at most ``limit`` bytes, and
    give up when ``deadline_at`` (``time.monotonic()``) passes."""
    _declared(response, limit)
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_bytes():
        total += len(chunk)
        if total > limit:
            raise TooLarge(limit, response.status_code)
        if time.monotonic() > deadline_at:
            raise DeadlinePassed("the answer did not complete within the deadline")
        chunks.append(chunk)
    # what httpx's own Response.read() does, with the cap checked along the way
    response._content = b"".join(chunks)


async def aread_capped(response: httpx.Response, limit: int) -> None:
    """The async :func:`read_capped` (the caller bounds it with ``asyncio.timeout``)."""
    _declared(response, limit)
    chunks: list[bytes] = []
    total = 0
    async for chunk in response.aiter_bytes():
        total += len(chunk)
        if total > limit:
            raise TooLarge(limit, response.status_code)
        chunks.append(chunk)
    response._content = b"".join(chunks)


def within(seconds: float, work: Callable[[], T]) -> T:
    """``work()`` on a worker thread; raises :class:`DeadlinePassed` if it has not
    finished after ``seconds`` (the worker is left to end on its own)."""
    outcome: list[T] = []
    failure: list[BaseException] = []
    done = threading.Event()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            outcome.append(context.run(work))
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="runhub-request", daemon=True).start()
    if not done.wait(seconds):
        raise DeadlinePassed(f"no complete answer within the {seconds:g} s deadline")
    if failure:
        raise failure[0]
    return outcome[0]


class Silence:
    """When the platform last answered, and whether a request may be sent now."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        #: Origins (scheme://host:port) that answered at least once.
        self.reached: set[str] = set()
        #: When the oldest attempt still without any answer was sent.
        self.since: float | None = None
        self._probe = False
        self._last_probe = 0.0

    def answered(self, origin: str) -> None:
        self.reached.add(origin)
        self.since = None

    def unanswered(self, sent_at: float) -> None:
        if self.since is None or sent_at < self.since:
            self.since = sent_at

    def silent_for(self) -> float:
        """Seconds since the oldest unanswered attempt was sent (0 if none)."""
        return 0.0 if self.since is None else time.monotonic() - self.since

    def exceeded(self) -> bool:
        return self.since is not None and self.silent_for() >= self.limit

    def admit(self) -> str:
        """``send``, ``probe`` (past the limit: one request allowed out, ``limit``
        seconds after the previous probe ended; the caller calls
        :meth:`probe_done` when it ends) or ``refuse``."""
        if not self.exceeded():
            return "send"
        now = time.monotonic()
        if self._probe or now - self._last_probe < self.limit:
            return "refuse"
        self._probe = True
        return "probe"

    def probe_done(self) -> None:
        self._probe = False
        self._last_probe = time.monotonic()  # the next probe a whole limit later
