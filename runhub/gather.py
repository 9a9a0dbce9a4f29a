"""``gather``: independent steps of an exchange, side by side.

An exchange (:mod:`runhub.backend`) yields one request at a time. Steps that do not
depend on each other (the lookups before a launch) need not wait for each other:
:func:`gather` runs them together, and a driver that can send concurrently answers
a whole round at once. Backends stay sans-IO; ``Exchange``'s type is unchanged.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar, cast

if TYPE_CHECKING:
    from runhub.backend import Exchange, Operation

T = TypeVar("T")


@dataclass(frozen=True)
class Together:
    """Requests :func:`gather` offers to send at once.

    A driver that sends them concurrently answers with one outcome per request, in
    order: its ``httpx.Response``, or the ``RunhubError`` it ended in (a nested
    ``Together`` gets a list of outcomes). A driver that sends one request at a
    time answers ``None``, and gather then runs the exchanges one after another.
    """

    requests: tuple[Any, ...]


def gather(*exchanges: Operation[Any]) -> Exchange[list[Any]]:
    """Run independent exchanges side by side; their results, in order.

    Concurrently (the async driver): each round, every exchange still running
    offers its next request and they are sent together, so a round costs one round
    trip. An error an exchange does not catch is raised once its round is over,
    and the others are closed. One at a time (the sync driver): exactly as if each
    exchange were ``yield from``-ed in turn, stopping at the first error.
    """
    results: list[Any] = [None] * len(exchanges)
    running = [op if isinstance(op, Generator) else None for op in exchanges]
    waiting: dict[int, Any] = {}
    failure: BaseException | None = None

    def advance(index: int, outcome: Any) -> None:
        nonlocal failure
        gen = running[index]
        assert gen is not None
        try:
            if outcome is _START:
                waiting[index] = next(gen)
            elif isinstance(outcome, BaseException):
                waiting[index] = gen.throw(outcome)
            else:
                waiting[index] = gen.send(outcome)
        except StopIteration as stop:
            results[index] = stop.value
            running[index] = None
        except BaseException as error:  # raised once the round is over
            running[index] = None
            failure = failure or error

    try:
        for index, op in enumerate(exchanges):
            if running[index] is None:
                results[index] = op
            else:
                advance(index, _START)
        while waiting and failure is None:
            order = list(waiting)
            outcomes = yield Together(tuple(waiting[i] for i in order))  # type: ignore[misc]
            if outcomes is None:  # one at a time: finish each exchange in turn
                for index in order:
                    gen = running[index]
                    assert gen is not None
                    results[index] = yield from _resume(gen, waiting.pop(index))
                    running[index] = None
                break
            waiting.clear()
            for index, outcome in zip(order, cast(list[Any], outcomes), strict=True):
                advance(index, outcome)
        if failure is not None:
            raise failure
        return results
    finally:
        for gen in running:
            if gen is not None:
                gen.close()


_START = object()


def _resume(gen: Generator[Any, Any, T], pending: Any) -> Generator[Any, Any, T]:
    """Finish ``gen`` whose next request, ``pending``, was already taken from it."""
    while True:
        try:
            answer = yield pending
        except BaseException as error:
            advance = partial(gen.throw, error)
        else:
            advance = partial(gen.send, answer)
        try:
            pending = advance()
        except StopIteration as stop:
            return cast(T, stop.value)
