"""Watch cost: requests to track N runs to completion.

N runs are launched (not counted) on an emulator in its own process, then tracked
until every one is terminal, polling every ``--interval`` seconds:

- runhub ``AsyncClient.watch`` (one ``statuses`` call per cycle: ICA
  ``analysis:search`` on the batch tag in pages of 1000, Code Ocean one listing per
  capsule);
- per-run polling as the official SDK's ``wait_until_completed`` does it: one
  ``get_analysis`` / ``get_computation`` per unfinished run per cycle.

Each client tracks its own N runs, launched just before, so both see runs of the
same age. Request counts do not depend on latency, so the default is none.

Usage: python bench/watch.py [--n 1000] [--interval 1.0] [--latency 0]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from _common import Emulator, table, write
from _workloads import plugins, sdk, settings, specs

from runhub.client import AsyncClient, PollSchedule
from runhub.state import RunStatus

ROOT = Path(__file__).resolve().parent.parent
ICA_TERMINAL = {"SUCCEEDED", "FAILED", "FAILED_FINAL", "ABORTED"}
CO_TERMINAL = {"completed", "failed"}


async def _launch(client: AsyncClient, backend: str, n: int) -> list[RunStatus]:
    return await client.launch_many(specs(backend, n), concurrency=32)


def runhub_watch(backend: str, emu: Emulator, n: int, interval: float) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        async with AsyncClient(settings=settings(backend, emu.url), plugins=plugins()) as client:
            launched = await _launch(client, backend, n)
            emu.reset()
            cycles = 0
            original = client.statuses

            async def counted(refs: Any) -> list[RunStatus]:
                nonlocal cycles
                cycles += 1
                return await original(refs)

            client.statuses = counted  # type: ignore[method-assign]
            poll = PollSchedule(initial=interval, factor=1.0, cap=interval, jitter=0.0)
            started = time.perf_counter()
            final: dict[str, str] = {}
            async for status in client.watch([s.ref for s in launched], poll=poll):
                if status.is_terminal:
                    final[str(status.ref)] = status.state.value
            return {"cycles": cycles, "wall": time.perf_counter() - started, "done": len(final)}

    got = asyncio.run(go())
    stats = emu.stats()
    return {**got, "requests": stats["requests"], "routes": stats["routes"]}


def sdk_polling(backend: str, emu: Emulator, n: int, interval: float) -> dict[str, Any]:
    async def launch() -> list[str]:
        async with AsyncClient(settings=settings(backend, emu.url), plugins=plugins()) as client:
            launched = await _launch(client, backend, n)
        return [s.ref.id.rpartition("/")[2] for s in launched]

    ids = asyncio.run(launch())
    client = sdk(backend, emu.url)
    terminal = ICA_TERMINAL if backend == "ica" else CO_TERMINAL
    emu.reset()
    started = time.perf_counter()
    pending = list(ids)
    cycles = 0
    try:
        while pending:
            cycles += 1
            pending = [i for i in pending if client.status(i) not in terminal]
            if pending:
                time.sleep(interval)
    finally:
        client.close()
    wall = time.perf_counter() - started
    stats = emu.stats()
    return {
        "cycles": cycles,
        "wall": wall,
        "done": len(ids),
        "requests": stats["requests"],
        "routes": stats["routes"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="runs tracked per client")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between polls")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--speed", type=float, default=1.0, help="emulated run time scale")
    parser.add_argument("--backends", default="ica,codeocean")
    parser.add_argument("--name", default="watch", help="results file name")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {"n": args.n, "interval": args.interval, "latency": args.latency}
    rows = []
    for backend in args.backends.split(","):
        with Emulator(backend, latency=args.latency, speed=args.speed) as emu:
            got = {
                "runhub watch": runhub_watch(backend, emu, args.n, args.interval),
                "per-run polling (SDK)": sdk_polling(backend, emu, args.n, args.interval),
            }
        results[backend] = got
        peer = got["per-run polling (SDK)"]
        for name, r in got.items():
            per_cycle = r["requests"] / max(1, r["cycles"])
            rows.append(
                [
                    backend,
                    name,
                    r["done"],
                    r["cycles"],
                    r["requests"],
                    per_cycle,
                    peer["requests"] / max(1, r["requests"]),
                ]
            )
    print(f"N = {args.n} runs, polled every {args.interval:g} s")
    headers = ["backend", "client", "runs", "cycles", "requests", "req/cycle", "x fewer"]
    print(table(headers, rows))
    path = write(args.name, results)
    print(f"\nwrote {path}")
    return results


if __name__ == "__main__":
    main()
