"""Chain latency: the seed "Pipeline Chaining on AWS" scenario on the ICA emulator.

Step 1 (fastqc) succeeds; its output ``test.txt`` becomes step 2's input. The
figure is the time from step 1's success (the emulator's own timeline) to step
2's create request (the emulator's record of it), per driver:

- ``polling``: ``AsyncClient.chain`` alone; a run not heard of for
  ``--poll-interval`` seconds is polled (the safety net), step 2 launched on the
  pass after the success is seen;
- further drivers (the event-driven figure: ICA notification → SQS → ``runhub
  events consume`` → ``advance_chains``) plug in through :data:`DRIVERS`: a
  function ``(emulator server, client settings, chain file, trial) -> None`` that
  runs the chain to its end.

The emulator is served over HTTP on 127.0.0.1 in this process (its clock is
read directly); ``--speed`` scales emulated time (an analysis takes 8 emulated
seconds), and figures are converted back to real seconds. Keep the run longer
than the poll interval (speed 1 with intervals of a few seconds): the figure is
then the wait from the success to the next poll, as for real runs of hours.

Usage: python bench/chain.py [--trials 5] [--poll-interval 2] [--speed 1] [--drivers polling]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _common import table, write

from runhub.aio import AsyncClient
from runhub.ledger import Ledger
from runhub.plugins import registry
from runhub.testing.emulator import Clock, EmulatorServer

CHAIN = """\
backend: ica
steps:
  first:
    spec:
      pipeline: fastqc-0-12
      name: "Hello {trial}"
      mounts: [{{source: /fastqs/, input: reads}}]
  second:
    after: [first]
    spec: {{pipeline: nf-core-rnaseq-3-14-0, name: "CallLambda {trial}"}}
    inputs:
      - from: {{step: first, outputs: test.txt}}
        mount: {{input: input}}
"""
API_KEY = "bench-chain-key"
PHASE = random.Random(17)

Driver = Callable[[EmulatorServer, dict[str, dict[str, Any]], Path, int, argparse.Namespace], None]


def polling(
    server: EmulatorServer,
    settings: dict[str, dict[str, Any]],
    chain: Path,
    trial: int,
    args: argparse.Namespace,
) -> None:
    """Run the chain with the polling runner until its verdict. Step 1 is launched
    and, after a random pause below the poll interval, polled once: the runner's
    polls (one interval after the last news of the run) are then not in phase
    with the emulator's fixed run durations, as real runs do not end on a poll."""

    async def go() -> None:
        ledger = Ledger(chain.parent / "ledger.sqlite")
        async with AsyncClient(settings=settings, plugins=registry(), ledger=ledger) as client:
            started = await client.chain(chain, wait=False)
            first = started.rows[0].step("first").launch
            assert first is not None
            run = first.run_ref()
            assert run is not None
            await asyncio.sleep(PHASE.uniform(0, args.poll_interval))
            await client.statuses([run])  # the polls' phase: from this moment on
            done = await client.chain(chain, poll_interval=args.poll_interval)
            if done.verdict != "succeeded":
                raise RuntimeError(f"trial {trial}: the chain ended {done.verdict}")
        ledger.close()

    asyncio.run(go())


#: Driver name -> how it runs one trial.
DRIVERS: dict[str, Driver] = {"polling": polling}
try:  # event-driven: emulator -> SQS on moto -> events consumer -> advance_chains
    from events import chain_driver

    DRIVERS["events"] = chain_driver
except ImportError:  # moto/boto3 (test extra) absent: polling only
    pass


def trial_latency(app: Any, speed: float, trial: int) -> float:
    """Real seconds from step 1's success to step 2's create, in this trial."""
    first = next(r for r in app.world.analyses.values() if r.user_reference == f"Hello {trial}")
    second = next(
        r for r in app.world.analyses.values() if r.user_reference == f"CallLambda {trial}"
    )
    succeeded = next(t for state, t in app.world.timeline(first) if state == "SUCCEEDED")
    return float((second.created_at - succeeded) / speed)


def run_driver(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from runhub_ica.emulator import IcaEmulator, seed

    app = IcaEmulator(Clock(speed=args.speed))
    app.world.extra_outputs = (("test.txt", 12),)
    latencies = []
    with EmulatorServer(app) as server, tempfile.TemporaryDirectory() as scratch:
        settings = {
            "ica": {"server_url": server.url, "x_api_key": API_KEY, "project_id": seed.PROJECT_ID}
        }
        for trial in range(args.trials):
            chain = Path(scratch) / f"chain-{trial}.yaml"
            chain.write_text(CHAIN.format(trial=trial))
            DRIVERS[name](server, settings, chain, trial, args)
            latencies.append(trial_latency(app, args.speed, trial))
    return {
        "trials": len(latencies),
        "median_s": statistics.median(latencies),
        "min_s": min(latencies),
        "max_s": max(latencies),
        "latencies_s": latencies,
        "poll_interval_s": args.poll_interval,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--poll-interval", type=float, default=2.0)
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--drivers", default=",".join(DRIVERS))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        import os

        os.environ.setdefault("RUNHUB_HOME", home)
        results = {name: run_driver(name, args) for name in args.drivers.split(",")}
    print(
        table(
            ("driver", "trials", "median", "min", "max", "poll interval"),
            [
                (
                    name,
                    r["trials"],
                    f"{r['median_s']:.2f} s",
                    f"{r['min_s']:.2f} s",
                    f"{r['max_s']:.2f} s",
                    f"{r['poll_interval_s']:g} s",
                )
                for name, r in results.items()
            ],
        )
    )
    write("chain", {"args": vars(args), "results": results})
    return results


if __name__ == "__main__":
    main()
