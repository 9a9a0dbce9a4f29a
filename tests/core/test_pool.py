"""ConnectionPool: HTTP/1.1 keep-alive over asyncio, with httpx's errors and timeouts.

Servers here are real sockets on 127.0.0.1: the EmulatorServer for well-behaved
HTTP, and small asyncio servers for the misbehaviours (a dropped connection, an
idle connection closed by the server, TLS with a test certificate).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from runhub.pool import ConnectionPool
from runhub.testing.emulator import EmulatorServer

DATA = Path(__file__).parent / "data"
#: A self-signed certificate for localhost/127.0.0.1 (test only; the key is public).
CERT, KEY = DATA / "localhost-cert.pem", DATA / "localhost-key.pem"


class Echo:
    """Answers with the path, the body's length, or a big body, as asked."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/fail":
            return httpx.Response(500, text="no")
        if path == "/big":
            return httpx.Response(200, content=b"x" * 300_000)
        return httpx.Response(200, json={"path": path, "received": len(request.content)})


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    """An asyncio server on 127.0.0.1 running ``handler`` per connection; its URL."""
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request head (these tests send no bodies to raw servers)."""
    return await reader.readuntil(b"\r\n\r\n")


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def timeouts(**values: float) -> dict[str, dict[str, float]]:
    """A request's ``timeout`` extension with the given values (others 5 s)."""
    return {"timeout": {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0, **values}}


async def test_concurrent_requests_stay_within_the_limit_and_reuse_connections() -> None:
    with EmulatorServer(Echo(), latency=0.05) as server:
        pool = ConnectionPool(4)
        async with httpx.AsyncClient(transport=pool) as client:
            answers = await asyncio.gather(
                *(client.get(f"{server.url}/r{i}") for i in range(12)),
                client.get(f"{server.url}/fail"),
            )
            assert [a.json()["path"] for a in answers[:-1]] == [f"/r{i}" for i in range(12)]
            assert answers[-1].status_code == 500
            assert pool.connections == 4  # 13 requests, at most 4 at once, all kept alive
            assert not pool._slots.locked()


async def test_sequential_requests_use_one_connection() -> None:
    with EmulatorServer(Echo()) as server:
        pool = ConnectionPool(64)
        async with httpx.AsyncClient(transport=pool) as client:
            for i in range(5):
                assert (await client.get(f"{server.url}/{i}")).json()["path"] == f"/{i}"
            assert pool.connections == 1


async def test_large_bodies_both_ways() -> None:
    with EmulatorServer(Echo()) as server:
        async with httpx.AsyncClient(transport=ConnectionPool(4)) as client:
            sent = await client.post(f"{server.url}/upload", content=b"y" * 200_000)
            assert sent.json()["received"] == 200_000
            big = await client.get(f"{server.url}/big")
            assert big.content == b"x" * 300_000
            assert big.headers["content-length"] == "300000"


async def test_a_failed_connection_releases_its_slot() -> None:
    pool = ConnectionPool(1)
    async with httpx.AsyncClient(transport=pool) as client:
        for _ in range(3):  # a leaked slot would make the second try wait forever
            with pytest.raises(httpx.ConnectError):
                await client.get("http://127.0.0.1:9/", timeout=2.0)  # nothing listens on 9
        assert pool.connections == 0


async def test_pool_timeout_when_every_connection_is_busy() -> None:
    with EmulatorServer(Echo()) as server:
        pool = ConnectionPool(1)
        async with httpx.AsyncClient(transport=pool) as client:
            async with client.stream("GET", f"{server.url}/big"):  # holds the only slot
                with pytest.raises(httpx.PoolTimeout):
                    await client.get(f"{server.url}/other", timeout=httpx.Timeout(5.0, pool=0.05))
            assert (await client.get(f"{server.url}/after")).status_code == 200


async def test_read_timeout() -> None:
    with EmulatorServer(Echo(), latency=0.5) as server:
        pool = ConnectionPool(2)
        async with httpx.AsyncClient(transport=pool) as client:
            with pytest.raises(httpx.ReadTimeout):
                await client.get(f"{server.url}/slow", timeout=httpx.Timeout(5.0, read=0.05))
            assert pool.connections == 0  # a connection cut off mid-exchange is not reused


async def test_server_that_drops_the_connection_is_a_protocol_error() -> None:
    async def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.close()

    async with raw_server(drop) as url:
        pool = ConnectionPool(2)
        async with httpx.AsyncClient(transport=pool) as client:
            with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
                await client.post(f"{url}/launch", content=b"{}")
            assert pool.connections == 0


async def test_truncated_body_is_a_protocol_error() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
        await writer.drain()
        writer.close()

    async with raw_server(cut) as url, httpx.AsyncClient(transport=ConnectionPool(2)) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(f"{url}/")


async def test_idle_connection_closed_by_the_server_is_not_reused() -> None:
    connections = 0

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await read_request(reader)
        writer.write(OK)  # keep-alive by default, then closed anyway while idle
        await writer.drain()
        writer.close()

    async with raw_server(answer_once) as url:
        pool = ConnectionPool(2)
        async with httpx.AsyncClient(transport=pool) as client:
            assert (await client.get(f"{url}/1")).text == "ok"
            await asyncio.sleep(0.05)  # the close reaches the client
            assert (await client.get(f"{url}/2")).text == "ok"
        assert connections == 2


async def test_expired_idle_connections_are_replaced() -> None:
    with EmulatorServer(Echo()) as server:
        pool = ConnectionPool(4, keepalive_expiry=0.0)
        async with httpx.AsyncClient(transport=pool) as client:
            first = (await client.get(f"{server.url}/a")).status_code
            second = (await client.get(f"{server.url}/b")).status_code
            assert (first, second) == (200, 200)
            assert pool.connections == 1  # the expired one was closed, not kept


async def test_unread_response_closes_its_connection_and_frees_the_slot() -> None:
    with EmulatorServer(Echo()) as server:
        pool = ConnectionPool(1)
        async with httpx.AsyncClient(transport=pool) as client:
            async with client.stream("GET", f"{server.url}/big") as response:
                assert response.status_code == 200  # body left unread
            assert pool.connections == 0
            assert (await client.get(f"{server.url}/next")).status_code == 200


async def test_https_with_a_trusted_certificate() -> None:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(CERT, KEY)

    async def ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await read_request(reader)
            writer.write(OK)
            await writer.drain()
        except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
            pass  # the untrusting client hangs up mid-handshake
        finally:
            writer.close()

    async with raw_server(ok, tls=server_tls) as url:
        trusting = ssl.create_default_context(cafile=str(CERT))
        async with httpx.AsyncClient(transport=ConnectionPool(2, verify=trusting)) as client:
            assert (await client.get(f"{url}/")).text == "ok"
        # the default CA bundle does not know the test certificate
        async with httpx.AsyncClient(transport=ConnectionPool(2)) as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{url}/")


async def test_unsupported_scheme() -> None:
    pool = ConnectionPool(2)
    request = httpx.Request("GET", "ftp://127.0.0.1/file", extensions=timeouts())
    with pytest.raises(httpx.UnsupportedProtocol):
        await pool.handle_async_request(request)
