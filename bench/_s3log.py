"""moto's S3 server, logging when each request arrived and was answered.

Usage: python bench/_s3log.py PORT LOGFILE

The same server ``python -m moto.server`` runs (moto's WSGI app under werkzeug,
threaded), wrapped so every request appends one JSON line to LOGFILE: wall-clock
start (headers in) and end (body read, answer built), method, S3 operation. The
benchmark splits each upload process's time into phases from these lines, measured
at the server, so neither client is instrumented (a hook in the client would cost
the client time and change what is measured).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


def operation(method: str, query: str) -> str:
    """The S3 operation a request is, as far as the phases need it."""
    keys = {part.split("=", 1)[0] for part in query.split("&") if part}
    if method == "PUT":
        return "UploadPart" if "partNumber" in keys else "PutObject"
    if method == "POST" and "uploads" in keys:
        return "CreateMultipartUpload"
    if method == "POST" and "uploadId" in keys:
        return "CompleteMultipartUpload"
    if method == "GET" and "uploadId" in keys:
        return "ListParts"
    return f"{method} other"


def logged(app: Callable[..., Iterable[bytes]], path: str) -> Callable[..., list[bytes]]:
    lock = threading.Lock()
    out = open(path, "a", buffering=1)  # noqa: SIM115 - open for the server's life

    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started = time.time()
        body = list(app(environ, start_response))
        line = {
            "start": started,
            "end": time.time(),
            "op": operation(environ["REQUEST_METHOD"], environ.get("QUERY_STRING", "")),
        }
        with lock:
            out.write(json.dumps(line) + "\n")
        return body

    return wrapped


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    app = logged(DomainDispatcherApplication(create_backend_app), path)
    server = make_server("127.0.0.1", port, app, True, request_handler=MotoRequestHandler)
    server.serve_forever()


if __name__ == "__main__":
    main()
