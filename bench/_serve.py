"""Serve an emulator over HTTP in its own process, with request counts on demand.

``python bench/_serve.py ica|codeocean [--latency S] [--rate-limit R] [--speed X]``
prints the URL, then answers commands read from stdin, one per line:
``stats`` prints one JSON line (requests answered, 429s, requests per route, runs
created) and
``reset`` zeroes the counts. End of input stops the server.

It is ``python -m runhub_<backend>.emulator`` (the same :class:`EmulatorServer`, the
same latency and token bucket) plus the counters, which the benchmarks need to
report requests for clients they cannot instrument (the ``runhub batch`` process).
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
import threading
from collections import Counter

import httpx

from runhub.testing.emulator import Clock, EmulatorApp, EmulatorServer, RateLimit

_IDS = re.compile(r"/[0-9a-f]{8}-[0-9a-f-]{27}|/[0-9]+(?=/|$)")


class Counting:
    """Wraps an app and counts what it answers, by ``METHOD route``."""

    def __init__(self, app: EmulatorApp) -> None:
        self.app = app
        self.routes: Counter[str] = Counter()
        self._lock = threading.Lock()

    def handle(self, request: httpx.Request) -> httpx.Response:
        route = f"{request.method} {_IDS.sub('/{id}', request.url.path)}"
        with self._lock:
            self.routes[route] += 1
        return self.app.handle(request)


def make_app(backend: str, speed: float) -> EmulatorApp:
    """The backend's emulator with a clock running at ``speed``."""
    if backend == "ica":
        from runhub_ica.emulator import IcaEmulator

        return IcaEmulator(Clock(speed))
    from runhub_codeocean.emulator import CodeOceanEmulator

    return CodeOceanEmulator(clock=Clock(speed))


def _runs(app: EmulatorApp) -> int:
    """Runs the emulator has created (its own state, not a count of requests)."""
    made = getattr(app, "analyses", None)
    if made is None:
        made = getattr(app, "created", ())
    return len(made)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backend", choices=["ica", "codeocean"])
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=float, default=None)
    parser.add_argument("--speed", type=float, default=1.0)
    args = parser.parse_args()
    app = Counting(make_app(args.backend, args.speed))
    limit = RateLimit(args.rate_limit) if args.rate_limit else None
    server = EmulatorServer(app, latency=args.latency, rate_limit=limit)
    gc.freeze()  # the seeded world and imported modules: never collected, never re-scanned
    server.start()
    print(server.url, flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "stats":
            with app._lock:
                routes = dict(app.routes)
            limited = limit.limited if limit else 0
            answered = sum(routes.values())
            stats = {"requests": answered + limited, "limited": limited, "routes": routes,
                     "runs": _runs(app.app)}  # fmt: skip
            print(json.dumps(stats), flush=True)
        elif command == "reset":
            with app._lock:
                app.routes.clear()
            if limit:
                limit.limited = limit.allowed = 0
            print("{}", flush=True)
    server.stop()


if __name__ == "__main__":
    main()
