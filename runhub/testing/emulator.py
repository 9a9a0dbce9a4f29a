"""The emulator pattern: a platform emulator is an object with
``handle(request: httpx.Request) -> httpx.Response``. This module serves such an app

- in-process, as an httpx transport (:func:`mock_transport`), and
- as a real HTTP server on 127.0.0.1 (:class:`EmulatorServer`, :func:`main`),

with fault injection (:class:`FaultPlan`) and a scaled clock (:class:`Clock`) that
both kinds share. Plugin authors reuse it for their own emulators.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import httpx

#: Every fault kind. ``drop-after`` forwards the request first (the run may exist),
#: ``drop-before`` does not; ``late`` drops the connection and forwards the request
#: ``late_seconds`` later, as a platform does with a request still queued when the
#: client gave up (a run that appears only after the client has looked for it).
FAULT_KINDS: tuple[str, ...] = (
    "429",
    "429-no-retry-after",
    "503",
    "502",
    "504",
    "drop-before",
    "drop-after",
    "late",
    "slow",
    "malformed",
)


class EmulatorApp(Protocol):
    """A stateful in-memory platform."""

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request."""


class Clock:
    """Monotonic time scaled by ``speed`` (2.0 = runs progress twice as fast)."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self._start = time.monotonic()
        self._offset = 0.0

    def now(self) -> float:
        """Emulated seconds since the clock started."""
        return (time.monotonic() - self._start) * self.speed + self._offset

    def advance(self, seconds: float) -> None:
        """Jump forward (tests use this instead of sleeping)."""
        self._offset += seconds


class FaultPlan:
    """Decides, per request, whether to inject a fault and which.

    ``rate`` is the share of requests faulted; ``kinds`` the faults to draw from;
    ``only`` restricts faults to requests whose ``METHOD path`` contains one of the
    given substrings. ``counts`` records what was injected, by kind.
    """

    def __init__(
        self,
        rate: float = 0.0,
        kinds: Sequence[str] = FAULT_KINDS,
        *,
        seed: int | None = None,
        only: Sequence[str] = (),
        slow_seconds: float = 2.0,
        retry_after: float = 1.0,
        late_seconds: float = 0.5,
    ) -> None:
        unknown = set(kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self.rate = rate
        self.kinds = tuple(kinds)
        self.only = tuple(only)
        self.slow_seconds = slow_seconds
        self.late_seconds = late_seconds
        self.retry_after = retry_after
        self.counts: Counter[str] = Counter()
        self._queue: list[str] = []
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def push(self, *kinds: str) -> None:
        """Force the next requests' faults, in order (deterministic tests)."""
        with self._lock:
            self._queue.extend(kinds)

    def decide(self, request: httpx.Request) -> str | None:
        """The fault for this request, or None."""
        target = f"{request.method} {request.url.path}"
        if self.only and not any(part in target for part in self.only):
            return None
        with self._lock:
            if self._queue:
                kind = self._queue.pop(0)
            elif self.rate and self._random.random() < self.rate:
                kind = self._random.choice(self.kinds)
            else:
                return None
            self.counts[kind] += 1
            return kind


class RateLimit:
    """A token bucket: ``rate`` requests per second, bursts up to ``burst``; beyond
    that the emulator answers 429 (with ``Retry-After`` only if asked: neither
    platform documents sending it). ``allowed``/``limited`` count the outcomes."""

    def __init__(self, rate: float, *, burst: float | None = None, retry_after: bool = False):
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate / 5)
        self.retry_after = retry_after
        self.allowed = 0
        self.limited = 0
        self._tokens = self.burst
        self._stamp = time.monotonic()
        self._lock = threading.Lock()

    def check(self) -> httpx.Response | None:
        """None if the request may pass, else the 429 to answer with."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                self.allowed += 1
                return None
            self.limited += 1
            wait = (1.0 - self._tokens) / self.rate
        headers = {"Retry-After": str(max(1, round(wait)))} if self.retry_after else {}
        return httpx.Response(429, headers=headers, json={"message": "rate limit exceeded"})


class DroppedConnection(Exception):
    """Raised inside the server to close the connection without an answer."""


def apply_fault(
    kind: str | None,
    request: httpx.Request,
    forward: Callable[[httpx.Request], httpx.Response],
    plan: FaultPlan,
) -> httpx.Response:
    """Answer ``request`` through ``forward``, with fault ``kind`` applied.

    Raises :class:`DroppedConnection` for the drop faults; the caller turns it into
    a closed socket (server) or ``httpx.RemoteProtocolError`` (in-process).
    """
    if kind is None:
        return forward(request)
    if kind == "429":
        return httpx.Response(429, headers={"Retry-After": f"{plan.retry_after:g}"}, json={})
    if kind == "429-no-retry-after":
        return httpx.Response(429, json={})
    if kind in ("502", "504"):
        html = f"<html><body><h1>{kind} Bad Gateway</h1></body></html>"
        return httpx.Response(int(kind), headers={"Content-Type": "text/html"}, text=html)
    if kind == "503":
        return httpx.Response(503, text="Service Unavailable")
    if kind == "drop-before":
        raise DroppedConnection(kind)
    if kind == "late":
        timer = threading.Timer(plan.late_seconds, forward, args=(request,))
        timer.daemon = True
        timer.start()
        raise DroppedConnection(kind)
    response = forward(request)
    if kind == "drop-after":
        raise DroppedConnection(kind)
    if kind == "slow":
        time.sleep(plan.slow_seconds)
        return response
    if kind == "malformed":
        body = response.content
        return httpx.Response(
            response.status_code, headers=response.headers, content=body[: max(1, len(body) // 2)]
        )
    raise ValueError(kind)


def mock_transport(
    app: EmulatorApp, faults: FaultPlan | None = None, *, rate_limit: RateLimit | None = None
) -> httpx.MockTransport:
    """An httpx transport (sync and async) answering from ``app`` in-process."""
    plan = faults or FaultPlan()

    def handler(request: httpx.Request) -> httpx.Response:
        request.read()
        limited = rate_limit.check() if rate_limit else None
        if limited is not None:
            return limited
        try:
            return apply_fault(plan.decide(request), request, app.handle, plan)
        except DroppedConnection:
            message = "Server disconnected without sending a response."
            raise httpx.RemoteProtocolError(message, request=request) from None

    return httpx.MockTransport(handler)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) drops connections when many clients connect at once.
    request_queue_size = 256

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client hanging up mid-exchange (a timeout, an unread body) is normal
        # traffic for a server, not a traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class EmulatorServer:
    """Serve ``app`` over HTTP on 127.0.0.1 in a background thread.

    Use as a context manager; ``url`` is ``http://127.0.0.1:PORT``.
    """

    def __init__(
        self,
        app: EmulatorApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
        latency: float = 0.0,
        rate_limit: RateLimit | None = None,
    ) -> None:
        self.app = app
        self.faults = faults or FaultPlan()
        self.latency = latency
        self.rate_limit = rate_limit
        self.requests = 0
        self._httpd = _Server((host, port), self._handler_class())
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle on, the body waits
            # for the client's delayed ACK (~40 ms per request on Linux).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = f"http://{self.headers.get('Host', 'localhost')}{self.path}"
                request = httpx.Request(
                    self.command, url, headers=list(self.headers.items()), content=body
                )
                server.requests += 1
                if server.latency:
                    time.sleep(server.latency)
                try:
                    limited = server.rate_limit.check() if server.rate_limit else None
                    if limited is not None:
                        response = limited
                    else:
                        kind = server.faults.decide(request)
                        response = apply_fault(kind, request, server.app.handle, server.faults)
                except DroppedConnection:
                    self.close_connection = True
                    self.connection.close()
                    return
                content = response.read()
                self.send_response(response.status_code)
                skip = {"content-length", "transfer-encoding", "connection", "content-encoding"}
                for key, value in response.headers.items():
                    if key.lower() not in skip:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        return Handler


def main(
    make_app: Callable[[float], EmulatorApp], argv: Sequence[str] | None = None, *, prog: str
) -> None:
    """Command line for an emulator: ``--host``, ``--port``, ``--speed``, ``--faults``.

    ``make_app(speed)`` builds the app. Prints the URL once the server is ready.
    """
    parser = argparse.ArgumentParser(prog=prog, description="Serve the emulator over HTTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--speed", type=float, default=1.0, help="state-progression time scale")
    parser.add_argument("--faults", type=float, default=0.0, help="share of requests faulted")
    parser.add_argument("--fault-kinds", default=",".join(FAULT_KINDS))
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per request")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--rate-limit", type=float, default=None, help="requests per second before 429"
    )
    args = parser.parse_args(argv)
    plan = FaultPlan(args.faults, args.fault_kinds.split(","), seed=args.seed)
    limit = RateLimit(args.rate_limit) if args.rate_limit else None
    server = EmulatorServer(
        make_app(args.speed),
        host=args.host,
        port=args.port,
        faults=plan,
        latency=args.latency,
        rate_limit=limit,
    )
    print(server.url, flush=True)
    try:
        server._httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()
