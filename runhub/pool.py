"""The async client's connection pool: HTTP/1.1 keep-alive over asyncio streams.

httpx's default async transport (httpcore's pool on anyio) spends about 1.1 ms of
CPU per request beyond what the bytes need, and its pool re-scans every connection
on every request, so the cost grows with the square of the connections held
(bench/launch.py: ~7 ms per request at 32 in flight). At 32 launches in flight
with a 50 ms round trip that CPU, not the network, set the pace. This transport
keeps httpx's public model (``httpx.Request`` in, ``httpx.Response`` out, the same
exception classes and timeout extension) and does the rest with h11, the HTTP/1.1
state machine httpx itself is built on, over plain asyncio streams: one
connection per request in flight, idle connections kept per origin for
``keepalive_expiry`` seconds, at most ``max_connections`` requests at once.

What httpx's transport did that this one must still do, each tested in
tests/core/test_pool.py or tests/reliability/test_proxy.py:

- environment proxies (``HTTPS_PROXY``, ``HTTP_PROXY``, ``ALL_PROXY``, ``NO_PROXY``):
  httpx mounts them only when no transport is given, so :func:`proxy_mounts`
  builds the same mounts (httpx's own reading of the environment) and proxied
  URLs go through httpx's proxy transports;
- TLS verification with the system CA store (and ``SSL_CERT_FILE``/``SSL_CERT_DIR``,
  through ``httpx.create_ssl_context``), HTTP/1.1 only (httpx's default too);
- keep-alive with an idle expiry, a cap on connections, the pool timeout, 1xx
  answers skipped, and every failure as the httpx exception of that step.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import h11
import httpx

#: Bytes asked of the socket per read.
READ_SIZE = 65536
#: Buffered outgoing bytes above which a write waits for the socket to drain.
WRITE_HIGH_WATER = 65536

_Origin = tuple[bytes, bytes, int]


@contextmanager
def _mapped(
    timeout_error: type[httpx.TransportError], os_error: type[httpx.TransportError]
) -> Iterator[None]:
    """Turn asyncio/OS/h11 failures into the httpx exception for this step."""
    try:
        yield
    except TimeoutError:
        raise timeout_error("timed out") from None
    except h11.RemoteProtocolError as exc:
        raise httpx.RemoteProtocolError(str(exc)) from exc
    except h11.LocalProtocolError as exc:
        raise httpx.LocalProtocolError(str(exc)) from exc
    except (OSError, EOFError) as exc:
        raise os_error(str(exc) or type(exc).__name__) from exc


class _Connection:
    """One HTTP/1.1 connection: its streams, its h11 state, when it was last used."""

    __slots__ = ("h11", "idle_since", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def reusable(self, now: float, expiry: float) -> bool:
        """True if an idle connection can carry the next request."""
        return (
            now - self.idle_since < expiry
            and not self.writer.is_closing()
            and not self.reader.at_eof()
            # bytes arrived unasked (a 408 before an idle close): not a clean connection
            and not getattr(self.reader, "_buffer", b"")
        )

    async def receive(self, timeout: float | None) -> h11.Event | type[h11.PAUSED]:
        """The next h11 event, reading from the socket as needed."""
        with _mapped(httpx.ReadTimeout, httpx.ReadError):
            while True:
                event = self.h11.next_event()
                if event is not h11.NEED_DATA:
                    return event  # type: ignore[return-value]
                async with asyncio.timeout(timeout):
                    data = await self.reader.read(READ_SIZE)
                if not data and self.h11.their_state is h11.SEND_RESPONSE:
                    raise httpx.RemoteProtocolError(
                        "server disconnected without sending a response"
                    )
                self.h11.receive_data(data)

    async def send(self, data: bytes, timeout: float | None) -> None:
        """Write ``data``; wait for the socket only if much is still buffered."""
        with _mapped(httpx.WriteTimeout, httpx.WriteError):
            self.writer.write(data)
            if self.writer.transport.get_write_buffer_size() > WRITE_HIGH_WATER:
                async with asyncio.timeout(timeout):
                    await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


class _Body(httpx.AsyncByteStream):
    """A response body read off its connection; closing it hands the connection
    back to the pool (or closes it if the exchange did not finish cleanly)."""

    def __init__(
        self, pool: ConnectionPool, origin: _Origin, conn: _Connection, read: float | None
    ) -> None:
        self._pool = pool
        self._origin = origin
        self._conn: _Connection | None = conn
        self._read = read

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            raise httpx.StreamClosed()
        while True:
            event = await conn.receive(self._read)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                return
            else:
                raise httpx.RemoteProtocolError(
                    "server closed the connection before the response body ended"
                )

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool._release(self._origin, conn)


def proxy_mounts(max_connections: int = 64) -> dict[str, httpx.AsyncBaseTransport | None]:
    """The proxy transports ``httpx.AsyncClient`` would mount from the environment
    (URL pattern -> transport; None: no proxy for that pattern, use the pool)."""
    # httpx's own reading of the environment (also used by httpx.AsyncClient), so
    # NO_PROXY and friends mean exactly what they mean to httpx; a test compares both.
    from httpx._utils import get_environment_proxies

    limits = httpx.Limits(max_connections=max_connections)
    mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    for pattern, proxy in get_environment_proxies().items():
        mounts[pattern] = None if proxy is None else _proxy_transport(proxy, limits)
    return mounts


def _proxy_transport(proxy: str, limits: httpx.Limits) -> httpx.AsyncBaseTransport:
    try:
        return httpx.AsyncHTTPTransport(proxy=proxy, limits=limits)
    except ImportError:  # a SOCKS proxy without socksio, as httpx.AsyncClient would fail
        from runhub.errors import ConfigError

        raise ConfigError(
            f"the environment names a SOCKS proxy ({proxy.split('@')[-1]}), which needs"
            " the socksio package",
            hint="pip install 'httpx[socks]', or unset ALL_PROXY/HTTPS_PROXY/HTTP_PROXY",
        ) from None


class ConnectionPool(httpx.AsyncBaseTransport):
    """An ``httpx`` async transport: HTTP/1.1 with keep-alive, at most
    ``max_connections`` requests in flight (more wait, up to the pool timeout)."""

    def __init__(
        self,
        max_connections: int = 64,
        *,
        keepalive_expiry: float = 5.0,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.max_connections = max(1, max_connections)
        self.keepalive_expiry = keepalive_expiry
        self._verify = verify
        self._ssl: ssl.SSLContext | None = None
        self._slots = asyncio.Semaphore(self.max_connections)
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._busy: set[_Connection] = set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout: dict[str, float | None] = request.extensions.get("timeout", {})
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))
        if origin[0] not in (b"http", b"https"):
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        await self._acquire_slot(timeout.get("pool"))
        conn: _Connection | None = None
        try:
            conn = self._idle_connection(origin) or await self._connect(
                origin, timeout.get("connect")
            )
            self._busy.add(conn)
            head = await self._exchange(conn, request, timeout)
        except BaseException:
            if conn is not None:
                self._busy.discard(conn)
                conn.close()
            self._slots.release()
            raise
        return httpx.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            stream=_Body(self, origin, conn, timeout.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    async def _exchange(
        self, conn: _Connection, request: httpx.Request, timeout: dict[str, float | None]
    ) -> h11.Response:
        """Send ``request`` on ``conn``; the response's head (the body follows)."""
        write, read = timeout.get("write"), timeout.get("read")
        state = conn.h11
        head = h11.Request(
            method=request.method, target=request.url.raw_path, headers=request.headers.raw
        )
        with _mapped(httpx.WriteTimeout, httpx.WriteError):
            # head and a small body leave in one write (one packet, one syscall)
            pending = state.send(head) or b""
            assert isinstance(request.stream, httpx.AsyncByteStream)
            async for chunk in request.stream:
                if chunk:
                    pending += state.send(h11.Data(data=chunk)) or b""
                    if len(pending) > WRITE_HIGH_WATER:
                        await conn.send(pending, write)
                        pending = b""
            pending += state.send(h11.EndOfMessage()) or b""
        await conn.send(pending, write)
        while True:
            event = await conn.receive(read)
            if isinstance(event, h11.Response):
                return event
            # 1xx informational answers are skipped

    async def _acquire_slot(self, timeout: float | None) -> None:
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns at once
            return
        try:
            async with asyncio.timeout(timeout):
                await self._slots.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout(
                f"no connection free within {timeout:g} s ({self.max_connections} in use)"
            ) from None

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to be stale
            if conn.reusable(now, self.keepalive_expiry):
                return conn
            conn.close()
        return None

    async def _connect(self, origin: _Origin, timeout: float | None) -> _Connection:
        scheme, host, port = origin
        hostname = host.decode("ascii")
        tls = self._context() if scheme == b"https" else None
        with _mapped(httpx.ConnectTimeout, httpx.ConnectError):
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    hostname, port, ssl=tls, server_hostname=hostname if tls else None
                )
        return _Connection(reader, writer)

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:  # built once: loading the CA bundle is slow
            verify = self._verify
            if not isinstance(verify, ssl.SSLContext):
                verify = httpx.create_ssl_context(verify)
            self._ssl = verify
            self._ssl.set_alpn_protocols(["http/1.1"])
        return self._ssl

    def _release(self, origin: _Origin, conn: _Connection) -> None:
        """A response is closed: keep its connection if the exchange ended cleanly."""
        self._busy.discard(conn)
        state = conn.h11
        if state.our_state is h11.DONE and state.their_state is h11.DONE:
            state.start_next_cycle()
            conn.idle_since = time.monotonic()
            self._idle.setdefault(origin, []).append(conn)
        else:
            conn.close()
        self._slots.release()

    @property
    def connections(self) -> int:
        """Open connections, idle or in use (tests and benchmarks read this)."""
        return len(self._busy) + sum(len(idle) for idle in self._idle.values())

    async def aclose(self) -> None:
        for conn in [*self._busy, *(c for idle in self._idle.values() for c in idle)]:
            conn.close()
        self._busy.clear()
        self._idle.clear()
