"""Events vs polling: the seed scenario's latency, and the status requests of 1000 runs.

1. **Seed scenario latency** (real time). Step 1 (FastQC) runs on the ICA emulator;
   when it succeeds, step 2 is launched on its ``*.summary.tsv`` output. Measured: from
   step 1's success (its emulated end, on the clock) to the arrival of step 2's create
   request at the emulator.
   - *events*: the emulator delivers its notifications to an SQS queue (moto, on
     127.0.0.1) every 0.1 s; ``SqsConsumer`` long-polls it; ``EventSink`` records the
     state and calls the listener, which launches step 2;
   - *polling*: a loop asks step 1's status every ``--poll`` seconds (30 s: the chain
     runner's default interval), starting at a random phase, and calls the same listener.
2. **1000 runs followed for an emulated hour** (emulated time, nothing waits). Ten
   batches of 100 runs, one launched every 3 emulated minutes, 30 min in IN_PROGRESS
   each. Every 30 s (the watch's polling cap):
   - *polling alone*: ``statuses`` of every unfinished run (one ``analysis:search``
     per batch page on ICA, the cheapest polling the platform allows);
   - *events*: the notifications go through SQS to the sink; only runs not heard of
     for ``--quiet`` seconds (600) are polled (``runhub.freshness.split``, the rule
     ``--fresh`` applies): the safety net. Also with 5 % of notifications dropped.
   Counted: status requests at the emulator, and run statuses asked.

This is ``bench/events.py`` rather than the event part of ``bench/chain.py``: the
chain runner was not on main yet; ``SeedChain`` below stands in for ``advance_chains``.

Usage: python bench/events.py [--n 1000] [--poll 30] [--repeat 3] [--quiet 600]
[--only latency|hour]
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import hashlib
import logging
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from _common import table, write

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-events-key"
FASTQC = "fastqc-0-12"
HOUR = 3600.0
TICK = 30.0


def _need() -> None:
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError:
        sys.exit("bench/events.py needs moto[server] and boto3 (the test extra)")


class Recorder:
    """Wraps the emulator app: when each step-2 create request arrived (monotonic)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.step2_at: list[float] = []

    def handle(self, request: Any) -> Any:
        if request.method == "POST" and b'"userReference":"step2-' in request.content:
            self.step2_at.append(time.monotonic())
        return self.app.handle(request)


class SeedChain:
    """Step 2 on step 1's ``*.summary.tsv``, once per step 1 (keyed by its ref)."""

    async def __call__(self, client: Any, refs: Sequence[str]) -> None:
        from runhub.spec import RunSpec

        for ref in refs:
            row = client.ledger.by_ref(ref)
            if row is None or row.state != "SUCCEEDED" or not row.name.startswith("step1-"):
                continue
            outputs = await client.outputs(ref)
            found = next(o for o in outputs if fnmatch.fnmatch(o.path, "*.summary.tsv"))
            spec = RunSpec.from_data(spec_data("step2-" + row.name[6:], found.id))
            key = hashlib.sha256(f"step2\0{ref}".encode()).hexdigest()[:32]
            await client.launch(spec, key=key)


def spec_data(name: str, source: str = "/fastqs/") -> dict[str, Any]:
    return {
        "backend": "ica",
        "pipeline": FASTQC,
        "name": name,
        "mounts": [{"source": source, "input": "reads"}],
    }


def client_for(app: Any, ledger: Any) -> Any:
    from runhub_ica.auth import TOKENS
    from runhub_ica.backend import IcaBackend
    from runhub_ica.emulator import seed

    from runhub.aio import AsyncClient
    from runhub.plugins import BackendInfo, Registry
    from runhub.testing.emulator import mock_transport

    TOKENS.clear()  # each emulator is an ICA of its own: no JWT from the last one
    settings = {"ica": {"server_url": "http://127.0.0.1:9", "x_api_key": API_KEY}}
    settings["ica"]["project_id"] = seed.PROJECT_ID
    plugins = Registry(backends={"ica": BackendInfo(IcaBackend, "runhub_ica", None, None)})
    return AsyncClient(
        settings=settings, transport=mock_transport(app), plugins=plugins, ledger=ledger
    )


def new_queue(moto_url: str) -> tuple[Any, str]:
    import boto3

    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_url)
    url = sqs.create_queue(QueueName=f"bench-{time.monotonic_ns()}")["QueueUrl"]
    return sqs, url


def subscribe(app: Any, queue_url: str) -> None:
    import httpx
    from runhub_ica.emulator import seed

    from runhub.testing.emulator import mock_transport

    media = "application/vnd.illumina.v3+json"
    headers = {"X-API-Key": API_KEY, "Accept": media, "Content-Type": media}
    base = "http://127.0.0.1:9/ica/rest"
    with httpx.Client(transport=mock_transport(app), base_url=base, headers=headers) as http:
        channel = http.post(
            "/api/notificationChannels", json={"enabled": True, "type": "SQS", "address": queue_url}
        ).json()
        http.post(
            f"/api/projects/{seed.PROJECT_ID}/notificationSubscriptions",
            json={
                "eventCode": "ICA_EXEC_028",
                "enabled": True,
                "payloadVersion": "V4",
                "notificationChannelId": channel["id"],
            },
        ).raise_for_status()


# -- 1. the seed scenario's latency ------------------------------------------------------


async def one_latency(moto_url: str, mode: str, poll: float, home: Path) -> float:
    from runhub_ica.emulator import IcaEmulator

    from runhub.events import EventSink, SqsConsumer
    from runhub.ledger import Ledger
    from runhub.spec import RunSpec
    from runhub.testing.emulator import Clock

    clock = Clock(speed=2.0)
    app = IcaEmulator(clock)
    app.notifier.aws = {"endpoint_url": moto_url}
    recorder = Recorder(app)
    chain = SeedChain()
    with Ledger(home / f"{mode}-{time.monotonic_ns()}.sqlite") as ledger:
        async with client_for(recorder, ledger) as client:  # type: ignore[arg-type]
            sqs, url = new_queue(moto_url)
            if mode == "events":
                subscribe(app, url)
                app.notifier.start(0.1)
            status = await client.launch(RunSpec.from_data(spec_data("step1-bench")))
            launched_mono, launched_emu = time.monotonic(), clock.now()
            (rec,) = app.analyses
            success_emu = app.world.timeline(rec)[-1][1]
            success_mono = launched_mono + (success_emu - launched_emu) / clock.speed
            task: asyncio.Task[Any] | None = None
            if mode == "events":
                sink = EventSink(client, [chain])
                task = asyncio.ensure_future(
                    SqsConsumer(url, sink, client=sqs, wait=1).run(limit=10**9)
                )
            if mode == "polling":  # a poller's phase is not tied to the run's start
                await asyncio.sleep(random.uniform(0, poll))
            try:
                while not recorder.step2_at:
                    if mode == "polling":  # ask, then wait: one poll every ``poll`` s
                        await client.status(status.ref)
                        await chain(client, [str(status.ref)])
                        if not recorder.step2_at:
                            await asyncio.sleep(poll)
                    else:
                        await asyncio.sleep(0.01)
            finally:
                app.notifier.stop()
                if task is not None:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
    return recorder.step2_at[0] - success_mono


# -- 2. 1000 runs for an emulated hour ------------------------------------------------------


async def hour(
    moto_url: str, mode: str, n: int, quiet: float, drop: float, home: Path
) -> dict[str, Any]:
    from runhub_ica.emulator import world

    saved = world.DURATIONS["IN_PROGRESS"]
    world.DURATIONS["IN_PROGRESS"] = 1800.0  # half an hour of work per run
    try:
        return await _hour(app_args=(moto_url, mode, n, quiet, drop, home))
    finally:
        world.DURATIONS["IN_PROGRESS"] = saved


async def _hour(app_args: tuple[str, str, int, float, float, Path]) -> dict[str, Any]:
    from runhub_ica.emulator import IcaEmulator

    from runhub.events import EventSink, Outcome, SqsConsumer
    from runhub.freshness import split
    from runhub.ledger import Ledger
    from runhub.spec import RunSpec
    from runhub.testing.emulator import Clock

    moto_url, mode, n, quiet, drop, home = app_args
    clock = Clock(speed=0.0)  # time moves only when told
    app = IcaEmulator(clock)
    app.notifier.aws = {"endpoint_url": moto_url}
    app.notifier.faults.drop = drop
    app.notifier.faults._random.seed(17)
    batches = 10
    per = max(1, n // batches)
    pending: dict[str, Any] = {}
    heard: dict[str, float] = {}
    asked = requests = 0

    def status_requests() -> int:
        return sum(1 for line in app.log if "analysis:search" in line or "/analyses/" in line)

    async def remember(client: Any, refs: Sequence[str]) -> None:
        for ref in refs:
            heard[ref] = clock.now()

    with Ledger(home / f"hour-{mode}-{time.monotonic_ns()}.sqlite") as ledger:
        async with client_for(app, ledger) as client:
            sqs, url = new_queue(moto_url)
            sink = EventSink(client, [remember])
            consumer = SqsConsumer(url, sink, client=sqs, wait=0)
            if mode != "polling":
                subscribe(app, url)
            t = 0.0
            while t <= HOUR:
                if t % 180 == 0 and t / 180 < batches:
                    k = int(t / 180)
                    specs = [RunSpec.from_data(spec_data(f"run-{k}-{i}")) for i in range(per)]
                    # One create per run: the emulated clock stands still while the
                    # batch launches, so a creation batch's items would never appear.
                    launched = await client.launch_many(
                        specs, batch=f"b{k}", concurrency=16, creation_batch=False
                    )
                    for status in launched:
                        pending[str(status.ref)] = status.ref
                        heard[str(status.ref)] = t  # the launch's answer is an observation
                if mode != "polling":
                    app.notifier.pump()
                    await consumer.run(drain=True)
                    todo = split(heard, list(pending), quiet, t)[1]
                else:
                    todo = list(pending)
                if todo:
                    before = status_requests()
                    found = await client.statuses([pending[r] for r in todo])
                    requests += status_requests() - before
                    asked += len(todo)
                    for status in found:
                        heard[str(status.ref)] = t
                for ref in list(pending):
                    row = ledger.by_ref(ref)
                    if row is not None and row.state in ("SUCCEEDED", "FAILED", "CANCELLED"):
                        del pending[ref]
                t += TICK
                clock.advance(TICK)
    return {
        "runs": per * batches,
        "unfinished after the hour": len(pending),
        "status requests": requests,
        "run statuses asked": asked,
        "notifications applied": sink.counts[Outcome.APPLIED],
        "notifications dropped": app.notifier.counts["dropped"],
    }


# -- the event-driven driver of bench/chain.py -------------------------------------------

_MOTO: list[str] = []


def _moto_url() -> str:
    """One moto server (SQS) per process, started on first need."""
    if not _MOTO:
        import os

        from moto.server import ThreadedMotoServer

        for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
            os.environ.setdefault(name, value)
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        _MOTO.append(f"http://{host}:{port}")
    return _MOTO[0]


def chain_driver(
    server: Any, settings: dict[str, dict[str, Any]], chain: Path, trial: int, args: Any
) -> None:
    """bench/chain.py's ``events`` driver: the chain is started, then advanced only by
    ICA notifications (emulator -> SQS on moto -> ``SqsConsumer`` -> ``EventSink`` ->
    ``advance_chains``), no polling, until its verdict."""
    _need()
    import importlib

    from runhub.aio import AsyncClient
    from runhub.events import EventSink, SqsConsumer, default_listeners
    from runhub.ledger import Ledger
    from runhub.plugins import registry

    status = importlib.import_module("runhub.chain").status  # the chains work of issue 17
    app = server.app
    moto_url = _moto_url()
    sqs, url = new_queue(moto_url)
    app.notifier.aws = {"endpoint_url": moto_url}
    subscribe(app, url)  # each trial its own queue; older subscriptions stay harmless

    async def go() -> None:
        with Ledger(chain.parent / "ledger.sqlite") as ledger:
            async with AsyncClient(settings=settings, plugins=registry(), ledger=ledger) as client:
                started = await client.chain(chain, wait=False)
                sink = EventSink(client, default_listeners())
                consumer = SqsConsumer(url, sink, client=sqs, wait=1)
                app.notifier.start(0.1)
                try:
                    while (await status(client, started.id, refresh=False)).verdict is None:
                        await consumer.run(limit=consumer.stats.received + 1)
                finally:
                    app.notifier.stop()
                done = await status(client, started.id, refresh=False)
                if done.verdict != "succeeded":
                    raise RuntimeError(f"trial {trial}: the chain ended {done.verdict}")

    asyncio.run(go())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    _need()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--poll", type=float, default=30.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=600.0)
    parser.add_argument("--only", choices=("latency", "hour"), help="one part only")
    args = parser.parse_args(argv)
    import os

    from moto.server import ThreadedMotoServer

    for name, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ.setdefault(name, value)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request lines
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    moto_url = f"http://{host}:{port}"
    results: dict[str, Any] = {"latency": {}, "hour": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="runhub-bench-events-") as folder:
            home = Path(folder)
            for mode in ("events", "polling") if args.only != "hour" else ():
                seconds = [
                    asyncio.run(one_latency(moto_url, mode, args.poll, home))
                    for _ in range(args.repeat)
                ]
                results["latency"][mode] = {
                    "median s": statistics.median(seconds),
                    "each s": [round(s, 3) for s in seconds],
                }
            for label, mode, drop in (
                (
                    ("polling alone", "polling", 0.0),
                    ("events (safety-net polls only)", "events", 0.0),
                    ("events, 5 % dropped", "events", 0.05),
                )
                if args.only != "latency"
                else ()
            ):
                results["hour"][label] = asyncio.run(
                    hour(moto_url, mode, args.n, args.quiet, drop, home)
                )
    finally:
        server.stop()
    if results["latency"]:
        print(f"Seed scenario: step 1 succeeds -> step 2 created (poll every {args.poll:g} s)")
        rows = [[m, r["median s"], r["each s"]] for m, r in results["latency"].items()]
        print(table(["driver", "median s", "each s"], rows))
    if not results["hour"]:
        write("events", {"args": vars(args), **results})
        return results
    print(f"\n{args.n} runs followed for an emulated hour (tick 30 s, quiet {args.quiet:g} s)")
    keys = list(next(iter(results["hour"].values())))
    print(table(["mode", *keys], [[m, *r.values()] for m, r in results["hour"].items()]))
    write("events", {"args": vars(args), **results})
    return results


if __name__ == "__main__":
    main()
