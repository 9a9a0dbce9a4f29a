"""A hostile HTTP server on 127.0.0.1, written for these tests: it answers every
request the way a broken or malicious platform would (on raw sockets, so it can
misbehave below HTTP: trickle bytes, never answer, never end a body, speak plain
HTTP to a TLS client). Every loop is bounded in time and size; ``stop()`` ends it.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: No behaviour runs longer than this, whatever the client does.
MAX_SECONDS = 60.0


@dataclass
class Asked:
    """One request as the server read it."""

    method: str
    target: str
    headers: dict[str, str]


@dataclass
class Conn:
    """What a behaviour gets: the socket and the request (None if none could be read)."""

    sock: socket.socket
    asked: Asked | None
    stopping: threading.Event = field(repr=False, default_factory=threading.Event)

    def send(self, data: bytes) -> bool:
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    def answer(self, status: int, body: bytes, ctype: str = "text/plain") -> None:
        head = f"HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
        self.send(head.encode() + b"Connection: close\r\n\r\n" + body)

    def wait(self, seconds: float) -> bool:
        """Sleep; False once the server is stopping."""
        return not self.stopping.wait(seconds)


Behaviour = Callable[[Conn], None]


def _read_request(sock: socket.socket) -> Asked | None:
    data = b""
    sock.settimeout(5)
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                return None
            data += chunk
            if len(data) > 1 << 20:
                return None
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = [*lines[0].split(" "), "", ""][:3]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return Asked(method, target, headers)
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    finally:
        sock.settimeout(None)


class Hostile:
    """Serve ``behaviour`` to every connection; counts connections and requests."""

    def __init__(self, behaviour: Behaviour, *, read_request: bool = True) -> None:
        self.behaviour = behaviour
        self.read_request = read_request
        self.connections = 0
        self.asked: list[Asked] = []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                with outer._lock:
                    outer.connections += 1
                asked = _read_request(sock) if outer.read_request else None
                if asked is not None:
                    with outer._lock:
                        outer.asked.append(asked)
                outer.behaviour(Conn(sock, asked, outer._stopping))

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client hanging up is what these tests do

        self._server = Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Hostile:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()


# -- behaviours ------------------------------------------------------------------------


def echo_credential(keep: int, status: int = 422) -> Behaviour:
    """An error answer quoting the request's credential so that an excerpt cut at
    160 characters keeps only its first ``keep`` characters."""

    def behave(conn: Conn) -> None:
        headers = conn.asked.headers if conn.asked else {}
        credential = headers.get("x-api-key") or headers.get("authorization", "").split(" ")[-1]
        body = "e" * (159 - keep) + credential + " (request rejected)"
        conn.answer(status, body.encode())

    return behave


def endless(conn: Conn) -> None:
    """200, chunked JSON that never ends (up to 2 GiB or MAX_SECONDS)."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    if not conn.send(head + b"1\r\n[\r\n"):
        return
    chunk = b"1," * 32768
    frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    ends = time.monotonic() + MAX_SECONDS
    for _ in range((2 << 30) // len(chunk)):
        if time.monotonic() > ends or conn.stopping.is_set() or not conn.send(frame):
            return


def huge(size: int) -> Behaviour:
    """200 with a JSON body of ``size`` bytes, announced in Content-Length."""

    def behave(conn: Conn) -> None:
        head = (
            f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
        ).encode()
        if not conn.send(head + b'"'):
            return
        sent, chunk = 1, b"x" * 65536
        while sent < size - 1 and conn.send(chunk[: size - 1 - sent]):
            sent += min(len(chunk), size - 1 - sent)
        conn.send(b'"')

    return behave


def trickle(where: str, every: float = 0.2) -> Behaviour:
    """One byte every ``every`` seconds, in the headers or in the body."""

    def behave(conn: Conn) -> None:
        if where == "body":
            head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"
            if not conn.send(head):
                return
            drip = b" "
        else:
            if not conn.send(b"HTTP/1.1 200 OK\r\nX-Slow: "):
                return
            drip = b"a"
        ends = time.monotonic() + MAX_SECONDS
        while time.monotonic() < ends and conn.wait(every):
            if not conn.send(drip):
                return

    return behave


def silent(conn: Conn) -> None:
    """Read the request, then never answer (until the client leaves or the end)."""
    conn.sock.settimeout(MAX_SECONDS)
    try:
        while conn.sock.recv(65536):
            pass
    except OSError:
        pass


def plain_http(conn: Conn) -> None:
    """Whatever arrives (a TLS hello), a plain-HTTP error page (serve it with
    ``read_request=False``)."""
    conn.sock.settimeout(5)
    try:
        conn.sock.recv(65536)
    except OSError:
        return
    conn.answer(400, b"<html>400 Bad Request: plain HTTP here</html>", "text/html")
