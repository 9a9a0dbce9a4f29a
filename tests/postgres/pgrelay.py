"""A TCP relay on 127.0.0.1 in front of the real PostgreSQL server, for faults.

It forwards bytes unchanged. Armed with :meth:`Relay.drop_next_commit`, it passes
the client's next ``COMMIT`` on to the server, lets the server act on it, and
then cuts the connection before the answer comes back: a connection dropped
during a commit, the case where the client cannot know whether it committed.
A fault injector for the network, not a stand-in for the database.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

# psycopg sends COMMIT as a simple query: 'Q', length, "COMMIT\0".
_COMMIT = b"COMMIT\x00"


class Relay:
    """``Relay(port).port``; use as a context manager."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.dropped = 0
        self._armed = 0
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._stop = threading.Event()

    @property
    def port(self) -> int:
        port: int = self._listener.getsockname()[1]
        return port

    def drop_next_commit(self, times: int = 1) -> None:
        """Cut the connection after each of the next ``times`` COMMITs reaches the server."""
        with self._lock:
            self._armed += times

    def __enter__(self) -> Relay:
        threading.Thread(target=self._accept, daemon=True).start()
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
            pair = (client, upstream)
            muted = threading.Event()  # set: the server's answers are no longer relayed
            for args in ((client, upstream, pair, muted), (upstream, client, None, muted)):
                threading.Thread(target=self._pump, args=args, daemon=True).start()

    def _pump(
        self,
        src: socket.socket,
        dst: socket.socket,
        pair: tuple[socket.socket, ...] | None,
        muted: threading.Event,
    ) -> None:
        try:
            while True:
                chunk = src.recv(64 * 1024)
                if not chunk:
                    break
                if pair is None and muted.is_set():
                    break  # the answer to the COMMIT: never delivered
                cut = False
                if pair is not None and _COMMIT in chunk:
                    with self._lock:
                        if self._armed:
                            self._armed -= 1
                            self.dropped += 1
                            cut = True
                            muted.set()
                dst.sendall(chunk)
                if cut:
                    time.sleep(0.3)  # the server commits; its answer is never relayed
                    for sock in pair:
                        sock.shutdown(socket.SHUT_RDWR)
                        sock.close()
                    return
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.close()
