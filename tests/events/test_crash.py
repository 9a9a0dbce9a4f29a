"""A consumer killed between receiving and deleting a message: the message comes back
after its visibility timeout, and its effect still happens exactly once."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from runhub_ica.emulator import IcaEmulator

from runhub.aio import AsyncClient
from runhub.events import EventSink, Outcome, SqsConsumer
from runhub.ledger import Ledger
from runhub.testing.emulator import Clock, EmulatorServer

from .conftest import Queue, SeedChain, subscribe
from .test_faults import input_ids, launch_steps1, output_file, step2_creates

DRIVER = Path(__file__).with_name("kill_driver.py")


@pytest.mark.parametrize("where", ["after-commit", "after-effect"])
async def test_a_consumer_killed_before_deleting_leaves_one_effect(
    where: str,
    app: IcaEmulator,
    clock: Clock,
    client: AsyncClient,
    ledger: Ledger,
    queue: Queue,
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_002")
    (ref,) = await launch_steps1(client)
    clock.advance(60)
    app.notifier.pump()
    assert ledger.path is not None
    with EmulatorServer(app) as server:
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, str(DRIVER), server.url, str(ledger.path), queue.url, where],
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == -9, done.stderr[-2000:]
    assert len(step2_creates(app)) == (1 if where == "after-effect" else 0)
    assert queue.count() == 1  # received, never deleted
    row = ledger.by_ref(ref)
    assert row is not None
    assert row.state == "SUCCEEDED"  # committed before the kill
    await asyncio.sleep(1.2)  # the visibility timeout: the message comes back
    chain = SeedChain()
    sink = EventSink(client, [chain])
    await SqsConsumer(queue.url, sink, wait=0).run(drain=True)
    assert sink.counts[Outcome.STALE] == 1  # nothing new for the ledger ...
    (created,) = step2_creates(app)  # ... and step 2 launched once in all
    assert input_ids(created) == [output_file(app, "step1-s0")]
    assert queue.count() == 0
