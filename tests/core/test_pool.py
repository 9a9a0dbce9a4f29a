"""ShardedTransport: requests spread over small pools, and every slot comes back."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from runhub.pool import ShardedTransport
from runhub.testing.emulator import EmulatorServer


class Echo:
    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/fail":
            return httpx.Response(500, text="no")
        return httpx.Response(200, json={"path": request.url.path})


async def test_concurrent_requests_open_shards_and_release_them() -> None:
    with EmulatorServer(Echo(), latency=0.05) as server:
        transport = ShardedTransport(8, shard_size=2)
        async with httpx.AsyncClient(transport=transport) as client:
            answers = await asyncio.gather(
                *(client.get(f"{server.url}/r{i}") for i in range(12)),
                client.get(f"{server.url}/fail"),
            )
            assert [a.json()["path"] for a in answers[:-1]] == [f"/r{i}" for i in range(12)]
            assert answers[-1].status_code == 500
            assert len(transport._shards) == 4  # 8 connections as pools of 2
            assert transport._load == [0, 0, 0, 0]


async def test_one_request_at_a_time_uses_one_shard() -> None:
    with EmulatorServer(Echo()) as server:
        transport = ShardedTransport(64)
        async with httpx.AsyncClient(transport=transport) as client:
            for i in range(5):
                assert (await client.get(f"{server.url}/{i}")).status_code == 200
            assert len(transport._shards) == 1


async def test_a_failed_connection_releases_its_slot() -> None:
    transport = ShardedTransport(4, shard_size=1)
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("http://127.0.0.1:9/")  # nothing listens on port 9
        assert transport._load == [0]
