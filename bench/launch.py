"""Launch throughput: N launches against the ICA and Code Ocean emulators over HTTP.

Each emulator runs in its own process (bench/_serve.py, no shared GIL) on 127.0.0.1
and adds a latency L to every request. Compared, per backend:

- runhub ``AsyncClient.launch_many`` (``--concurrency`` in flight); on ICA through
  creation batches (the default, ``analysisCreationBatch``: 100 runs a request, then
  the batches' items read until every ref is known) and one request per run
  (``creation_batch=False``);
- ``runhub batch`` (a samplesheet of the same N rows), when the CLI has it;
- runhub ``AsyncClient.launch_many`` over httpx's own async transport instead of
  runhub's pool (``runhub/pool.py``), to weigh keeping the pool;
- bare httpx: the same backend exchanges driven by a few lines over a default
  ``httpx.AsyncClient`` (no retries, no pacing, no ledger), ``--concurrency`` in
  flight: what the requests cost without runhub. runhub must stay within 1.5x;
- a sequential loop with the official SDK (libica / codeocean), one run at a time.

Reported: wall time, requests the emulator answered, runs per second, the bound
N·L/concurrency, the SDK loop's time over runhub's, and runhub over bare httpx.

Usage: python bench/launch.py [--n 1000] [--latency 0.05] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _common import Emulator, table, write
from _workloads import environment, plugins, sdk, settings, spec_data, specs

from runhub.client import AsyncClient

ROOT = Path(__file__).resolve().parent.parent
RUNHUB = [sys.executable, "-m", "runhub.cli"]


def measure(emu: Emulator, work: Any) -> dict[str, Any]:
    """Run ``work()`` against a freshly counted emulator: wall time and requests."""
    # Every client starts from the same heap: what the harness imported (libica's
    # ~1,000 models, for the SDK peer) and earlier runs left is frozen, so the
    # collector does not re-scan it during someone else's measurement.
    gc.collect()
    gc.freeze()
    emu.reset()
    cpu = emu.cpu_seconds()
    mine = _cpu()
    started = time.perf_counter()
    extra = work() or {}
    wall = time.perf_counter() - started
    stats = emu.stats()
    creates = sum(
        count
        for route, count in stats["routes"].items()
        if route.startswith("POST")
        and ("CreationBatch" in route or "/analysis:" in route or route.endswith("computations"))
        and not route.endswith(":search")
    )
    return {
        "wall": wall,
        "requests": stats["requests"],
        "creates": creates,
        "routes": stats["routes"],
        "client_cpu": _cpu() - mine,
        "server_cpu": emu.cpu_seconds() - cpu,
        **extra,
    }


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (``runhub batch``)."""
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + child.ru_utime + child.ru_stime


def runhub_launch_many(
    backend: str,
    emu: Emulator,
    n: int,
    concurrency: int,
    *,
    httpx_transport: bool = False,
    creation_batch: bool = True,
) -> dict[str, Any]:
    run_specs = specs(backend, n)

    async def go() -> int:
        transport = None
        if httpx_transport:
            import httpx

            transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=64))
        async with AsyncClient(
            settings=settings(backend, emu.url), plugins=plugins(), transport=transport
        ) as client:
            done = await client.launch_many(
                run_specs, concurrency=concurrency, creation_batch=creation_batch
            )
            return len({s.ref for s in done})

    def work() -> dict[str, Any]:
        return {"runs": asyncio.run(go())}

    return measure(emu, work)


def bare_httpx(backend: str, emu: Emulator, n: int, concurrency: int) -> dict[str, Any]:
    """The same launch exchanges over a plain ``httpx.AsyncClient``: no retries, no
    pacing, no ledger, ``concurrency`` in flight, one backend instance (its lookup
    cache shared, as runhub's is)."""
    import uuid
    from collections.abc import Generator

    import httpx

    from runhub.clientbase import _ClientBase
    from runhub.gather import Together

    run_specs = specs(backend, n)
    chosen = _ClientBase(settings=settings(backend, emu.url), plugins=plugins()).backend(backend)

    async def one(http: httpx.AsyncClient, gate: asyncio.Semaphore, spec: Any) -> Any:
        async with gate:
            exchange: Generator[Any, Any, Any] = chosen.launch(spec, uuid.uuid4().hex)
            try:
                request = next(exchange)
                while True:
                    if isinstance(request, Together):  # requests sent at once
                        answers = [http.send(r) for r in request.requests]
                        request = exchange.send(list(await asyncio.gather(*answers)))
                    else:
                        request = exchange.send(await http.send(request))
            except StopIteration as stop:
                return stop.value

    async def go() -> int:
        gate = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http:
            done = await asyncio.gather(*(one(http, gate, s) for s in run_specs))
        return len({s.ref for s in done})

    def work() -> dict[str, Any]:
        return {"runs": asyncio.run(go())}

    return measure(emu, work)


def batch_available() -> bool:
    """True if this runhub has the ``batch`` command."""
    probe = subprocess.run([*RUNHUB, "batch", "--help"], capture_output=True, cwd=ROOT)
    return probe.returncode == 0


def runhub_batch(backend: str, emu: Emulator, n: int, concurrency: int) -> dict[str, Any]:
    """``runhub batch`` over a samplesheet of ``n`` rows (whole process, own ledger)."""
    home = tempfile.mkdtemp(prefix="runhub-bench-")
    try:
        folder = Path(home)
        template = spec_data(backend, 0)
        if backend == "ica":
            template["name"] = "bench sample {i}"
            template["parameters"]["sample_ids"] = ["S{i}"]
        else:
            template["parameters"]["NumFiles"] = "{i}"
        (folder / "template.yaml").write_text(yaml.safe_dump(template))
        with (folder / "sheet.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["i"])
            writer.writerows([[i] for i in range(n)])
        cmd = [*RUNHUB, "batch", str(folder / "template.yaml"), str(folder / "sheet.csv")]
        cmd += ["--concurrency", str(concurrency)]
        env = environment(backend, emu.url, home)

        def work() -> dict[str, Any]:
            done = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"runhub batch failed: {done.stderr.strip()[-400:]}")
            return {"runs": n}

        # What the process costs before its first launch (start-up, imports, reading
        # and checking every row): the same command with --dry-run, which stops there.
        started = time.perf_counter()
        subprocess.run([*cmd, "--dry-run"], env=env, cwd=ROOT, capture_output=True, check=True)
        fixed = time.perf_counter() - started
        return {**measure(emu, work), "fixed": fixed}
    finally:
        shutil.rmtree(home, ignore_errors=True)


def sdk_loop(backend: str, emu: Emulator, n: int) -> dict[str, Any]:
    client = sdk(backend, emu.url)

    def work() -> dict[str, Any]:
        return {"runs": len({client.launch(i) for i in range(n)})}

    try:
        return measure(emu, work)
    finally:
        client.close()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="launches per client")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--backends", default="ica,codeocean")
    parser.add_argument("--name", default="launch", help="results file name")
    parser.add_argument(
        "--sweep", default="16,64", help="other concurrencies to try launch_many at ('' for none)"
    )
    args = parser.parse_args(argv)
    n, latency, concurrency = args.n, args.latency, args.concurrency
    bound = n * latency / concurrency
    has_batch = batch_available()
    results: dict[str, Any] = {"n": n, "latency": latency, "concurrency": concurrency}
    rows = []
    sweep_rows: list[list[object]] = []
    batch_rows: list[list[object]] = []
    for backend in args.backends.split(","):
        with Emulator(backend, latency=latency) as emu:
            # warm up: the emulator loads its schema models and the client its
            # plugins on first use; neither belongs in the figures
            runhub_launch_many(backend, emu, 4, concurrency)
            bare_httpx(backend, emu, 4, concurrency)
            sdk_loop(backend, emu, 1)
            got = {"runhub launch_many": runhub_launch_many(backend, emu, n, concurrency)}
            if backend == "ica":  # the default above sends creation batches
                got["runhub launch_many, per run"] = runhub_launch_many(
                    backend, emu, n, concurrency, creation_batch=False
                )
            got["runhub, httpx transport"] = runhub_launch_many(
                backend, emu, n, concurrency, httpx_transport=True
            )
            got["bare httpx"] = bare_httpx(backend, emu, n, concurrency)
            if has_batch:
                got["runhub batch"] = runhub_batch(backend, emu, n, concurrency)
            sweep = {
                c: runhub_launch_many(backend, emu, n, c)
                for c in sorted({int(x) for x in args.sweep.split(",") if x} | {concurrency})
                if c != concurrency
            }
            sweep[concurrency] = got["runhub launch_many"]
            got["official SDK loop"] = sdk_loop(backend, emu, n)
        results[backend] = got
        results[f"{backend}_sweep"] = sweep
        for c, r in sorted(sweep.items()):
            c_bound = n * latency / c
            sweep_rows.append(
                [backend, c, r["wall"], c_bound, r["wall"] / c_bound, r["client_cpu"] / n * 1000]
            )
        peer = got["official SDK loop"]["wall"]
        bare = got["bare httpx"]["wall"]
        for name, r in got.items():
            rows.append(
                [
                    backend,
                    name,
                    r["wall"],
                    r["requests"],
                    r["creates"],
                    n / r["wall"],
                    r["wall"] / bound if name.startswith("runhub") else "",
                    peer / r["wall"],
                    r["wall"] / bare if name.startswith("runhub") else "",
                    r["client_cpu"] / n * 1000,
                ]
            )
        if not has_batch:
            rows.append([backend, "runhub batch", "missing", "", "", "", "", "", ""])
        else:
            r = got["runhub batch"]
            phase = r["wall"] - r["fixed"]
            batch_rows.append([backend, r["wall"], r["fixed"], phase, phase / bound])
    headers = ["backend", "client", "wall s", "requests", "creates", "runs/s", "x bound"]
    headers += ["x SDK loop"]
    headers += ["x bare httpx", "client CPU ms/run"]
    print(f"N={n} launches, L={latency * 1000:g} ms, concurrency {concurrency}: ", end="")
    print(f"bound N*L/concurrency = {bound:.2f} s")
    print(table(headers, rows))
    if batch_rows:
        print("\nrunhub batch: the process before its first launch, and the launches")
        print(
            table(
                ["backend", "wall s", "start-up + checks s", "launching s", "x bound"], batch_rows
            )
        )
    print("\nrunhub launch_many by concurrency")
    sweep_headers = ["backend", "concurrency", "wall s", "bound s", "x bound", "client CPU ms/run"]
    print(table(sweep_headers, sweep_rows))
    results["bound"] = bound
    results["batch_available"] = has_batch
    path = write(args.name, results)
    print(f"\nwrote {path}")
    return results


if __name__ == "__main__":
    main()
