"""Watching with ``fresh``: runs an events consumer recorded lately are not polled."""

from __future__ import annotations

import asyncio

from runhub_ica.emulator import IcaEmulator

from runhub.aio import AsyncClient
from runhub.freshness import split
from runhub.ledger import Ledger
from runhub.testing.emulator import Clock, EmulatorServer

from .conftest import Queue, SeedChain, subscribe
from .test_cli import invoke
from .test_faults import consume, launch_steps1
from .test_lambda import served

__all__ = ["served"]


def status_requests(app: IcaEmulator) -> int:
    return sum(1 for line in app.log if "/analyses/" in line or "analysis:search" in line)


def test_split_polls_only_runs_not_heard_of_lately() -> None:
    heard = {"a": 100.0, "b": 10.0}
    assert split(heard, ["a", "b", "c"], within=60, now=120) == (["a"], ["b", "c"])


async def test_a_run_the_events_finished_is_not_polled(
    app: IcaEmulator, clock: Clock, client: AsyncClient, queue: Queue
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_028")
    refs = await launch_steps1(client, 3)
    clock.advance(60)
    app.notifier.pump()
    await consume(client, queue, SeedChain())
    before = status_requests(app)
    seen = [s async for s in client.watch(refs, fresh=600)]
    assert {str(s.ref) for s in seen} == set(refs)
    assert all(s.state.value == "SUCCEEDED" for s in seen)
    assert status_requests(app) == before  # every state came from the ledger
    async for _ in client.watch(refs):  # without fresh: asked
        pass
    assert status_requests(app) > before


async def test_a_run_not_heard_of_within_fresh_is_polled(
    app: IcaEmulator, clock: Clock, client: AsyncClient
) -> None:
    (ref,) = await launch_steps1(client)
    clock.advance(60)
    await asyncio.sleep(0.05)
    before = status_requests(app)
    seen = [s async for s in client.watch([ref], fresh=0.01)]
    assert seen[-1].state.value == "SUCCEEDED"
    assert status_requests(app) == before + 1  # the safety-net poll


def test_wait_fresh_takes_an_ingested_state_without_asking(
    app: IcaEmulator, clock: Clock, served: EmulatorServer, tmp_path: object
) -> None:
    from pathlib import Path

    from .test_lambda import RECORDED, launched_earlier

    with Ledger(Path(str(tmp_path)) / "home" / "ledger.sqlite") as ledger:
        ref = launched_earlier(app, clock, ledger)
    assert invoke("events", "ingest", str(RECORDED)).code == 0
    before = status_requests(app)
    done = invoke("wait", ref, "--fresh", "600", "-o", "json")
    assert done.code == 0, done.err
    assert '"SUCCEEDED"' in done.out
    assert status_requests(app) == before
