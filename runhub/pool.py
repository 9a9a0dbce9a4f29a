"""The async client's connection pool, built for many requests in flight.

httpcore's pool re-checks every connection (expiry, idleness) on every request it
queues or releases, with a count that is itself a scan: work per request grows with
the square of the connections held. At 32 connections that bookkeeping cost more
CPU than the request (bench/launch.py: ~7 ms per request, against ~1.3 ms through
pools of 4). :class:`ShardedTransport` therefore keeps several small httpcore pools
and sends each request through the one with the fewest requests in flight; the
shards share one TLS context and are opened only when the others are busy.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable

import httpx

#: Connections per shard: small enough to keep httpcore's scans cheap.
SHARD_SIZE = 4


class _Released(httpx.AsyncByteStream):
    """A response body that tells its shard when it is closed."""

    def __init__(self, stream: httpx.AsyncByteStream, release: Callable[[], None]) -> None:
        self._stream = stream
        self._release: Callable[[], None] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            if self._release is not None:
                self._release()
                self._release = None


class ShardedTransport(httpx.AsyncBaseTransport):
    """Up to ``max_connections`` connections, as pools of ``shard_size``."""

    def __init__(
        self,
        max_connections: int = 64,
        *,
        shard_size: int = SHARD_SIZE,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.shard_size = max(1, shard_size)
        self.max_shards = max(1, -(-max_connections // self.shard_size))
        self._verify = verify
        self._ssl: ssl.SSLContext | bool | None = None
        self._shards: list[httpx.AsyncHTTPTransport] = []
        self._load: list[int] = []

    def _pick(self) -> int:
        best = min(range(len(self._load)), key=self._load.__getitem__, default=-1)
        full = len(self._shards) >= self.max_shards
        if best >= 0 and (self._load[best] < self.shard_size or full):
            return best
        if self._ssl is None:  # one TLS context for every shard (loading it is slow)
            self._ssl = (
                httpx.create_ssl_context(verify=self._verify)
                if not isinstance(self._verify, ssl.SSLContext)
                else self._verify
            )
        limits = httpx.Limits(
            max_connections=self.shard_size, max_keepalive_connections=self.shard_size
        )
        self._shards.append(httpx.AsyncHTTPTransport(verify=self._ssl, limits=limits))
        self._load.append(0)
        return len(self._shards) - 1

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = self._pick()
        self._load[index] += 1

        def release() -> None:
            self._load[index] -= 1

        try:
            response = await self._shards[index].handle_async_request(request)
        except BaseException:
            release()
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        response.stream = _Released(response.stream, release)
        return response

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()
        self._shards.clear()
        self._load.clear()
