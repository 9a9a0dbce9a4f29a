"""A tiny HTTP forward proxy, run as its own process by test_proxy.py.

``python forward_proxy.py LOG`` listens on 127.0.0.1 (a free port, printed on the
first line of stdout), forwards absolute-form requests (``GET http://host:port/…``)
to loopback addresses only, and appends ``METHOD URL`` to LOG for each one. Any
other target is refused with 403: the proxy never reaches off the machine. It
exits when stdin closes (the test's end), so it cannot outlive the test.
"""

from __future__ import annotations

import http.client
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

LOOPBACK = ("127.0.0.1", "localhost", "::1")
HOP = {"proxy-connection", "proxy-authorization", "connection", "keep-alive", "te"}


def main(log_path: str) -> None:
    lock = threading.Lock()

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            target = urlsplit(self.path)
            if target.scheme != "http" or target.hostname not in LOOPBACK:
                self.send_error(403, "this proxy forwards to loopback only")
                return
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            with lock, open(log_path, "a") as log:
                log.write(f"{self.command} {self.path}\n")
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request(self.command, path or "/", body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in HOP | {"content-length", "transfer-encoding"}:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            upstream.close()

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sys.stdin.read()  # until the test closes our stdin
    server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
