"""``gather``: independent exchanges side by side, driven by both drivers."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from runhub.backend import Exchange, request, response_json
from runhub.errors import NotFound, RunhubError
from runhub.gather import Together, gather
from runhub.transport import AsyncDriver, RetryPolicy, SyncDriver

from .conftest import ToyBackend

FAST = RetryPolicy(attempts=2, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0)


def lookup(name: str) -> Exchange[str]:
    """GET /things/<name>; its id."""
    resp = yield request("GET", f"http://x/things/{name}")
    return str(response_json(resp)["id"])


def lookup_or(name: str, default: str) -> Exchange[str]:
    """Like ``lookup``, but a missing thing gives ``default``."""
    try:
        return (yield from lookup(name))
    except NotFound:
        return default


def two_steps(name: str) -> Exchange[str]:
    first = yield from lookup(name)
    second = yield from lookup(first)
    return second


def answer(req: httpx.Request) -> httpx.Response:
    name = req.url.path.rsplit("/", 1)[-1]
    if name.startswith("missing"):
        return httpx.Response(404, json={"message": "no such thing"})
    return httpx.Response(200, json={"id": f"id-of-{name}"})


def sync_driver(toy: ToyBackend, seen: list[str]) -> SyncDriver:
    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.url.path)
        return answer(req)

    return SyncDriver(httpx.Client(transport=httpx.MockTransport(handler)), toy, FAST)


def test_results_in_order_with_plain_values_passed_through(toy: ToyBackend) -> None:
    seen: list[str] = []
    got = sync_driver(toy, seen).run(gather(lookup("a"), "plain", two_steps("b"), None))
    assert got == ["id-of-a", "plain", "id-of-id-of-b", None]
    # round one: a and b together; round two: b's second step
    assert seen == ["/things/a", "/things/b", "/things/id-of-b"]


def test_each_round_is_yielded_as_one_together() -> None:
    exchange = gather(lookup("a"), lookup("b"))
    first = next(exchange)
    assert isinstance(first, Together)
    assert [r.url.path for r in first.requests] == ["/things/a", "/things/b"]
    replies = [httpx.Response(200, json={"id": i}) for i in ("1", "2")]
    with pytest.raises(StopIteration) as done:
        exchange.send(replies)  # type: ignore[arg-type]
    assert done.value.value == ["1", "2"]


def test_an_error_goes_to_its_own_exchange(toy: ToyBackend) -> None:
    got = sync_driver(toy, []).run(gather(lookup_or("missing-1", "fallback"), lookup("a")))
    assert got == ["fallback", "id-of-a"]


def test_one_at_a_time_stops_at_the_first_error(toy: ToyBackend) -> None:
    seen: list[str] = []
    with pytest.raises(NotFound):
        sync_driver(toy, seen).run(gather(two_steps("a"), lookup("missing-2"), lookup("b")))
    # exactly as if each were yield-from-ed in turn: b is never asked for
    assert seen == ["/things/a", "/things/id-of-a", "/things/missing-2"]


async def test_concurrently_an_uncaught_error_is_raised_after_its_round(
    toy: ToyBackend,
) -> None:
    seen: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.url.path)
        return answer(req)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    with pytest.raises(NotFound):
        await AsyncDriver(http, toy, FAST).run(gather(two_steps("a"), lookup("missing-2")))
    # round one went out whole; two_steps' second request never did
    assert sorted(seen) == ["/things/a", "/things/missing-2"]
    await http.aclose()


def test_nested_gathers(toy: ToyBackend) -> None:
    got = sync_driver(toy, []).run(gather(gather(lookup("a"), lookup("b")), lookup("c")))
    assert got == [["id-of-a", "id-of-b"], "id-of-c"]


async def test_the_async_driver_sends_a_round_at_once(toy: ToyBackend) -> None:
    inflight = 0
    most = 0
    arrived = asyncio.Event()

    async def handler(req: httpx.Request) -> httpx.Response:
        nonlocal inflight, most
        inflight += 1
        most = max(most, inflight)
        if most == 3:
            arrived.set()
        await asyncio.wait_for(arrived.wait(), 5)  # only returns once all three are in
        inflight -= 1
        return answer(req)

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    driver = AsyncDriver(http, toy, FAST)
    got = await driver.run(gather(lookup("a"), lookup("b"), lookup_or("missing", "d")))
    assert got == ["id-of-a", "id-of-b", "d"]
    assert most == 3
    await http.aclose()


async def test_async_errors_are_runhub_errors(toy: ToyBackend) -> None:
    http = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    driver = AsyncDriver(http, toy, FAST)
    outcome: Any = await driver._outcome(Together((request("GET", "http://x/things/missing"),)))
    assert isinstance(outcome[0], RunhubError)
    await http.aclose()
