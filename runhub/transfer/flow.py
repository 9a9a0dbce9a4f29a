"""Transfer flows: one implementation of each data operation, driven sync or async.

A flow is a generator, like a backend exchange one level up. It yields *steps* and
receives their results:

- :class:`Call` — run a backend operation (an exchange) through the client's driver,
  so every platform request gets the transport's retries, pacing and redaction;
- :class:`Work` — run blocking work (hashing, moving bytes) in a worker; it gets a
  ``call`` function to run backend operations from there (credential refreshes);
- :class:`Sleep` — wait (polling for data to become available: backends never sleep);
- :class:`Fan` — run several flows side by side, at most ``limit`` at once; the
  result is one entry per flow, a :class:`~runhub.errors.RunhubError` in place of a
  flow that failed.

:func:`run` drives a flow with threads (``Client``), :func:`arun` on an event loop
(``AsyncClient``, blocking work in ``asyncio.to_thread``): the operation itself is
written once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Generator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, cast

from runhub.errors import RunhubError

if TYPE_CHECKING:
    from runhub.backend import Backend, Operation

T = TypeVar("T")

#: ``call(backend, operation) -> result``: drive one backend operation.
Caller: TypeAlias = "Callable[[Backend, Operation[Any]], Any]"
#: ``await acall(backend, operation) -> result``.
AsyncCaller: TypeAlias = "Callable[[Backend, Operation[Any]], Awaitable[Any]]"


@dataclass(frozen=True, slots=True)
class Call:
    """Run ``op`` (a backend operation) through the client's driver."""

    backend: Backend
    op: Operation[Any]


@dataclass(frozen=True, slots=True)
class Work:
    """Run ``fn(call)`` where blocking is fine; ``call`` drives backend operations."""

    fn: Callable[[Caller], Any]


@dataclass(frozen=True, slots=True)
class Sleep:
    seconds: float


@dataclass(frozen=True, slots=True)
class Fan:
    """Run ``flows`` side by side, at most ``limit`` at once."""

    flows: Sequence[Flow[Any]]
    limit: int = 8


Step: TypeAlias = Call | Work | Sleep | Fan
Flow: TypeAlias = Generator[Step, Any, T]


def run(flow: Flow[T], call: Caller) -> T:
    """Drive ``flow`` in this thread (workers for :class:`Fan`)."""
    try:
        step = next(flow)
        while True:
            try:
                result = _step(step, call)
            except RunhubError as error:
                step = flow.throw(error)
            else:
                step = flow.send(result)
    except StopIteration as stop:
        return cast(T, stop.value)


def _step(step: Step, call: Caller) -> Any:
    if isinstance(step, Call):
        return call(step.backend, step.op)
    if isinstance(step, Work):
        return step.fn(call)
    if isinstance(step, Sleep):
        time.sleep(step.seconds)
        return None
    return _fan(step, call)


def _fan(step: Fan, call: Caller) -> list[Any]:
    if not step.flows:
        return []
    if len(step.flows) == 1:
        return [_caught(step.flows[0], call)]
    pool = ThreadPoolExecutor(max(1, min(step.limit, len(step.flows))), "runhub-transfer")
    try:
        futures = [pool.submit(_caught, flow, call) for flow in step.flows]
        return [f.result() for f in futures]
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        pool.shutdown(wait=True)


def _caught(flow: Flow[Any], call: Caller) -> Any:
    try:
        return run(flow, call)
    except RunhubError as error:
        return error


async def arun(flow: Flow[T], acall: AsyncCaller) -> T:
    """Drive ``flow`` on the running event loop (blocking work in threads)."""
    loop = asyncio.get_running_loop()

    def call_from_thread(backend: Backend, op: Operation[Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(_awaited(acall(backend, op)), loop).result()

    try:
        step = next(flow)
        while True:
            try:
                result = await _astep(step, acall, call_from_thread)
            except RunhubError as error:
                step = flow.throw(error)
            else:
                step = flow.send(result)
    except StopIteration as stop:
        return cast(T, stop.value)


async def _awaited(value: Awaitable[Any]) -> Any:
    return await value


async def _astep(step: Step, acall: AsyncCaller, call: Caller) -> Any:
    if isinstance(step, Call):
        return await acall(step.backend, step.op)
    if isinstance(step, Work):
        return await asyncio.to_thread(step.fn, call)
    if isinstance(step, Sleep):
        await asyncio.sleep(step.seconds)
        return None
    gate = asyncio.Semaphore(max(1, step.limit))

    async def one(flow: Flow[Any]) -> Any:
        async with gate:
            try:
                return await arun(flow, acall)
            except RunhubError as error:
                return error

    return list(await asyncio.gather(*(one(f) for f in step.flows)))


def first_error(results: Sequence[Any]) -> RunhubError | None:
    """The first failure among a :class:`Fan`'s results, if any."""
    return next((r for r in results if isinstance(r, RunhubError)), None)


def raise_first(results: Sequence[Any]) -> None:
    """Raise the first failure among a :class:`Fan`'s results."""
    error = first_error(results)
    if error is not None:
        raise error


def done(value: T) -> Flow[T]:
    """A flow that yields nothing and returns ``value``."""
    return value
    yield  # pragma: no cover  (makes this a generator)


__all__ = [
    "AsyncCaller",
    "Call",
    "Caller",
    "Fan",
    "Flow",
    "Sleep",
    "Work",
    "arun",
    "done",
    "first_error",
    "raise_first",
    "run",
]
