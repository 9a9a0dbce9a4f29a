"""A TCP relay on 127.0.0.1 in front of a real server (moto), for network faults.

It forwards bytes unchanged; it can slow the client's upload to ``rate`` bytes per
second, and drop the connection once, ``drop_after`` bytes into the first request
whose bytes contain ``drop_when`` (e.g. ``b"partNumber=2 HTTP"``). It is a fault
injector for the network between client and S3, not a stand-in for S3.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class Relay:
    """``Relay(port).url``; use as a context manager."""

    def __init__(
        self,
        port: int,
        *,
        rate: float | None = None,
        drop_when: bytes | None = None,
        drop_after: int = 256 * 1024,
    ) -> None:
        self.target = ("127.0.0.1", port)
        self.rate = rate
        self.drop_when = drop_when
        self.drop_after = drop_after
        self.dropped = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> Relay:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for src, dst, up in ((client, upstream, True), (upstream, client, False)):
                thread = threading.Thread(target=self._pump, args=(src, dst, up), daemon=True)
                thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        armed_at: int | None = None
        sent = 0
        try:
            while True:
                chunk = src.recv(64 * 1024)
                if not chunk:
                    break
                if up and self.drop_when is not None and armed_at is None:
                    with self._lock:
                        if self.drop_when in chunk and not self.dropped:
                            armed_at = sent
                if up and armed_at is not None and sent - armed_at >= self.drop_after:
                    with self._lock:
                        self.dropped += 1
                    break
                if up and self.rate:
                    time.sleep(len(chunk) / self.rate)
                dst.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
