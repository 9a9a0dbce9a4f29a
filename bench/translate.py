"""Translation speed and the memory of tracking many runs.

1. RunSpec -> request body per second, per backend, on one core: the backend's pure
   translation (ICA ``plan`` + ``body`` with looked-up ids; Code Ocean
   ``translate``), and the whole launch exchange up to its POST request (lookups
   cached, the ``httpx.Request`` built) — what each row of a batch costs the client.
2. Peak memory while tracking 10,000 runs: one fresh process launches them on the
   emulator (own process, no latency) and writes their refs; another fresh process
   reads the refs and watches every run to completion (as ``runhub watch`` on a
   batch would). Reported: RSS before (interpreter and libraries), the launching
   process's peak RSS, and the tracking process's peak RSS (Linux ``VmHWM``).

Usage: python bench/translate.py [--specs 20000] [--runs 10000] [--backends ica,codeocean]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import Emulator, table, write
from _workloads import plugins, settings, specs

from runhub.client import AsyncClient, Client, PollSchedule

ROOT = Path(__file__).resolve().parent.parent


def ica_translation(n: int) -> tuple[float, float]:
    """(pure translations/s, launch exchanges/s) for ICA."""
    from runhub_ica.emulator import seed
    from runhub_ica.translate import Resolved, body, plan

    run_specs = specs("ica", n)
    resolved = Resolved(
        seed.PROJECT_ID,
        seed.PIPELINES[0].id,
        seed.STORAGES["Medium"],
        None,
        ("fol.1", "fil.2"),
        ("fastqs", "ref_tar"),
    )
    started = time.perf_counter()
    for spec in run_specs:
        body(plan(spec), resolved, key="k" * 32, batch="b")
    pure = n / (time.perf_counter() - started)
    client = Client(settings=settings("ica", "http://127.0.0.1:9"), plugins=plugins())
    backend: Any = client.backend("ica")
    lookups = backend.lookups
    lookups._pipelines[seed.PROJECT_ID] = [
        {"id": seed.PIPELINES[0].id, "code": seed.PIPELINES[0].code, "language": "NEXTFLOW"}
    ]
    lookups._data[(seed.PROJECT_ID, "/fastqs/")] = "fol.1"
    lookups._data[(seed.PROJECT_ID, run_specs[0].mounts[1].source)] = "fil.2"
    lookups._storages[seed.PROJECT_ID] = [{"id": seed.STORAGES["Medium"], "name": "Medium"}]
    return pure, _exchanges(backend, run_specs)


def co_translation(n: int) -> tuple[float, float]:
    """(pure translations/s, launch exchanges/s) for Code Ocean."""
    from runhub_codeocean.translate import translate

    run_specs = specs("codeocean", n)
    started = time.perf_counter()
    for spec in run_specs:
        translate(spec)
    pure = n / (time.perf_counter() - started)
    client = Client(settings=settings("codeocean", "http://127.0.0.1:9"), plugins=plugins())
    return pure, _exchanges(client.backend("codeocean"), run_specs)


def _exchanges(backend: Any, run_specs: list[Any]) -> float:
    """Launch exchanges per second, each driven to its first (POST) request."""
    started = time.perf_counter()
    for spec in run_specs:
        backend.validate(spec)
        exchange = backend.launch(spec, "k" * 32, batch="b")
        request = next(exchange)
        assert request.method == "POST", request
        exchange.close()
    return len(run_specs) / (time.perf_counter() - started)


def _peak_rss_mb() -> float:
    """This process's peak resident memory (``VmHWM``: getrusage's ru_maxrss would
    carry the parent's peak across exec)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def launch_child(backend: str, url: str, n: int, out: str) -> dict[str, Any]:
    """In a fresh process: launch ``n`` runs, write their refs to ``out``; memory."""
    base = _peak_rss_mb()

    async def go() -> list[str]:
        async with AsyncClient(settings=settings(backend, url), plugins=plugins()) as client:
            launched = await client.launch_many(specs(backend, n), concurrency=32)
        return [f"{s.ref}\t{s.ref.batch or ''}" for s in launched]

    Path(out).write_text("\n".join(asyncio.run(go())))
    return {"rss_before_mb": base, "rss_peak_mb": _peak_rss_mb()}


def watch_child(backend: str, url: str, refs_file: str) -> dict[str, Any]:
    """In a fresh process: watch the runs listed in ``refs_file`` to the end; memory."""
    from runhub.backend import RunRef

    base = _peak_rss_mb()
    refs = []
    for line in Path(refs_file).read_text().splitlines():
        text, _, batch = line.partition("\t")
        ref = RunRef.parse(text)
        refs.append(RunRef(ref.backend, ref.id, batch or None))

    async def go() -> dict[str, Any]:
        async with AsyncClient(settings=settings(backend, url), plugins=plugins()) as client:
            done = 0
            poll = PollSchedule(initial=1.0, factor=1.0, cap=1.0, jitter=0.0)
            async for status in client.watch(refs, poll=poll):
                done += status.is_terminal
            return {"done": done}

    got = asyncio.run(go())
    return {**got, "rss_before_mb": base, "rss_peak_mb": _peak_rss_mb()}


def track(backend: str, n: int, speed: float) -> dict[str, Any]:
    """Launch ``n`` runs in one fresh process, then track them in another."""
    with Emulator(backend, speed=speed) as emu, tempfile.TemporaryDirectory() as tmp:
        refs = str(Path(tmp) / "refs.tsv")
        me = [sys.executable, __file__]
        launched = _child([*me, "--child", "launch", backend, emu.url, str(n), refs])
        tracked = _child([*me, "--child", "watch", backend, emu.url, refs])
    return {
        "runs": n,
        "done": tracked["done"],
        "rss_before_mb": tracked["rss_before_mb"],
        "rss_launch_peak_mb": launched["rss_peak_mb"],
        "rss_peak_mb": tracked["rss_peak_mb"],
    }


def _child(cmd: list[str]) -> dict[str, Any]:
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--specs", type=int, default=20000, help="specs translated")
    parser.add_argument("--runs", type=int, default=10000, help="runs tracked")
    parser.add_argument("--backends", default="ica,codeocean")
    parser.add_argument("--name", default="translate", help="results file name")
    parser.add_argument("--speed", type=float, default=1.0, help="emulated run time scale")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)  # a measuring process
    args = parser.parse_args(argv)
    if args.child:
        kind, backend, url, *rest = args.child
        if kind == "launch":
            print(json.dumps(launch_child(backend, url, int(rest[0]), rest[1])))
        else:
            print(json.dumps(watch_child(backend, url, rest[0])))
        return {}
    results: dict[str, Any] = {"specs": args.specs, "runs": args.runs}
    rows = []
    for backend in args.backends.split(","):
        pure, exchange = (ica_translation if backend == "ica" else co_translation)(args.specs)
        memory = track(backend, args.runs, args.speed)
        results[backend] = {"translations_per_s": pure, "exchanges_per_s": exchange, **memory}
        rows.append(
            [
                backend,
                pure,
                exchange,
                memory["done"],
                memory["rss_before_mb"],
                memory["rss_launch_peak_mb"],
                memory["rss_peak_mb"],
            ]
        )
    headers = [
        "backend",
        "bodies/s",
        "launch requests/s",
        "runs tracked",
        "RSS before MB",
        "RSS peak launching MB",
        "RSS peak tracking MB",
    ]
    print(f"{args.specs} specs translated (one core); {args.runs} runs tracked to the end")
    print(table(headers, rows))
    path = write(args.name, results)
    print(f"\nwrote {path}")
    return results


if __name__ == "__main__":
    main()
