"""AsyncDriver: identical GETs in flight together share one request; nothing else does."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from runhub.backend import request
from runhub.errors import NotFound
from runhub.transport import AsyncDriver, RetryPolicy

from .conftest import ToyBackend

FAST = RetryPolicy(attempts=2, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0)


class Counter:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.seen: list[str] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.seen.append(f"{req.method} {req.url.path}")
        return httpx.Response(self.status, json={"id": "r1", "state": "running"})


def driver(toy: ToyBackend, counter: Counter) -> AsyncDriver:
    return AsyncDriver(httpx.AsyncClient(transport=httpx.MockTransport(counter)), toy, FAST)


async def test_concurrent_identical_gets_share_one_request(toy: ToyBackend) -> None:
    counter = Counter()
    drv = driver(toy, counter)
    answers = await asyncio.gather(
        *(drv.send(request("GET", "http://x/pipelines/p1")) for _ in range(5)),
        drv.send(request("GET", "http://x/pipelines/p2")),
    )
    assert counter.seen == ["GET /pipelines/p1", "GET /pipelines/p2"]
    assert drv.sent == 2
    assert all(a.json()["id"] == "r1" for a in answers)


async def test_gets_one_after_another_are_each_sent(toy: ToyBackend) -> None:
    counter = Counter()
    drv = driver(toy, counter)
    for _ in range(3):
        await drv.send(request("GET", "http://x/runs/r1"))
    assert len(counter.seen) == 3  # nothing is cached across time


async def test_posts_are_never_shared(toy: ToyBackend) -> None:
    counter = Counter()
    drv = driver(toy, counter)
    await asyncio.gather(
        *(drv.send(request("POST", "http://x/runs", json_body={"p": 1})) for _ in range(3))
    )
    assert counter.seen == ["POST /runs"] * 3


async def test_every_waiter_gets_the_shared_error(toy: ToyBackend) -> None:
    counter = Counter(status=404)
    drv = driver(toy, counter)
    outcomes = await asyncio.gather(
        *(drv.send(request("GET", "http://x/pipelines/gone")) for _ in range(3)),
        return_exceptions=True,
    )
    assert len(counter.seen) == 1
    assert all(isinstance(o, NotFound) for o in outcomes)


async def test_a_cancelled_waiter_leaves_the_others_their_answer(toy: ToyBackend) -> None:
    counter = Counter()
    drv = driver(toy, counter)
    first = asyncio.ensure_future(drv.send(request("GET", "http://x/pipelines/p1")))
    second = asyncio.ensure_future(drv.send(request("GET", "http://x/pipelines/p1")))
    await asyncio.sleep(0)
    first.cancel()
    assert (await second).status_code == 200
    with pytest.raises(asyncio.CancelledError):
        await first
    assert len(counter.seen) == 1
