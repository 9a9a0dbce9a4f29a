"""Rate limits: a batch of launches against an emulator that allows R requests/s.

The emulator (own process, latency L) runs a token bucket of R requests per second
(bursts of R/5) and answers 429 without ``Retry-After`` beyond it, as neither
platform documents sending one. Compared, per backend:

- runhub ``AsyncClient.launch_many`` (its adaptive pacing: back off on 429,
  probe back up gradually); on ICA both ways: through creation batches (the
  default: ``analysisCreationBatch``, 100 runs a request) and one request per run
  (``creation_batch=False``), which cannot beat N/R seconds;
- the official SDK in a pool of as many threads, retrying 429s with urllib3's
  ``Retry`` (exponential backoff) — what an SDK user would set up.

Reported: requests that got through per second as a share of R, the share of
requests answered 429, and runs launched with their refs known (failures are
counted, not raised).

The SDK runs ``--peer-n`` launches (default 150): at its pace, N would take minutes.

Usage: python bench/ratelimit.py [--n 600] [--rate 20] [--latency 0.05] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from _common import Emulator, table, write
from _workloads import CodeOceanSdk, IcaSdk, plugins, settings, specs

from runhub.client import AsyncClient
from runhub.errors import RunhubError

ROOT = Path(__file__).resolve().parent.parent


def measure(emu: Emulator, rate: float, work: Any, settle: float = 2.0) -> dict[str, Any]:
    """Let the bucket refill, run ``work()``, and read the emulator's counts."""
    time.sleep(settle)
    emu.reset()
    started = time.perf_counter()
    launched, failed = work()
    wall = time.perf_counter() - started
    stats = emu.stats()
    passed = stats["requests"] - stats["limited"]
    return {
        "wall": wall,
        "requests": stats["requests"],
        "limited": stats["limited"],
        "throughput": passed / wall,
        "share_of_rate": passed / wall / rate,
        "share_429": stats["limited"] / max(1, stats["requests"]),
        "launched": launched,
        "failed": failed,
    }


def runhub_batch(
    backend: str, url: str, n: int, concurrency: int, *, creation_batch: bool = True
) -> tuple[int, int]:
    run_specs = specs(backend, n)

    async def go() -> list[Any]:
        async with AsyncClient(settings=settings(backend, url), plugins=plugins()) as client:
            return await client.launch_many(
                run_specs,
                concurrency=concurrency,
                return_exceptions=True,
                creation_batch=creation_batch,
            )

    outcomes = asyncio.run(go())
    # a run counts once its ref is known (every RunStatus carries it)
    failed = sum(1 for o in outcomes if isinstance(o, RunhubError) or not o.ref.id)
    return len(outcomes) - failed, failed


def sdk_threads(backend: str, url: str, n: int, concurrency: int) -> tuple[int, int]:
    """The SDK from ``concurrency`` threads, urllib3 retrying 429 with backoff."""
    from urllib3.util.retry import Retry

    retry = Retry(
        total=8, status_forcelist=[429], allowed_methods=None, backoff_factor=0.5, backoff_max=30
    )
    client: IcaSdk | CodeOceanSdk
    if backend == "ica":
        client = IcaSdk(url)
        client.client.configuration.retries = retry
        client.client.rest_client = type(client.client.rest_client)(client.client.configuration)
    else:
        from requests.adapters import HTTPAdapter

        client = CodeOceanSdk(url)
        client.sdk.session.mount(url, HTTPAdapter(max_retries=retry, pool_maxsize=concurrency))

    def one(i: int) -> bool:
        try:
            client.launch(i)
        except Exception:
            return False
        return True

    try:
        with ThreadPoolExecutor(concurrency) as pool:
            done = list(pool.map(one, range(n)))
    finally:
        client.close()
    return sum(done), n - sum(done)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=600, help="launches per client")
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s allowed (R)")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backends", default="ica,codeocean")
    parser.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--peer-n", type=int, default=150, help="launches for the SDK (it is slow when limited)"
    )
    parser.add_argument("--name", default="ratelimit", help="results file name")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to refill the bucket")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {
        "n": args.n,
        "rate": args.rate,
        "latency": args.latency,
        "concurrency": args.concurrency,
    }
    rows = []
    for backend in args.backends.split(","):
        with Emulator(backend, latency=args.latency, rate_limit=args.rate) as emu:
            runhub_batch(backend, emu.url, 2, 2)  # warm up the emulator's models
            got = {
                "runhub launch_many": measure(
                    emu,
                    args.rate,
                    lambda b=backend, u=emu.url: runhub_batch(b, u, args.n, args.concurrency),
                    args.settle,
                )
            }
            if backend == "ica":
                got["runhub launch_many, creation batches"] = got.pop("runhub launch_many")
                got["runhub launch_many, one request per run"] = measure(
                    emu,
                    args.rate,
                    lambda u=emu.url: runhub_batch(
                        "ica", u, args.n, args.concurrency, creation_batch=False
                    ),
                    args.settle,
                )
            if args.peer:
                got["official SDK, threads + urllib3 Retry"] = measure(
                    emu,
                    args.rate,
                    lambda b=backend, u=emu.url: sdk_threads(b, u, args.peer_n, args.concurrency),
                    args.settle,
                )
        results[backend] = got
        for name, r in got.items():
            rows.append(
                [
                    backend,
                    name,
                    r["wall"],
                    r["requests"],
                    r["throughput"],
                    f"{r['share_of_rate']:.1%}",
                    f"{r['share_429']:.1%}",
                    f"{r['launched']}/{r['launched'] + r['failed']}",
                ]
            )
    print(f"R = {args.rate:g} req/s, L = {args.latency * 1000:g} ms, N = {args.n}, ", end="")
    print(f"concurrency {args.concurrency}")
    headers = ["backend", "client", "wall s", "requests", "ok req/s", "of R", "429s", "launched"]
    print(table(headers, rows))
    path = write(args.name, results)
    print(f"\nwrote {path}")
    return results


if __name__ == "__main__":
    main()
