"""The seed scenario as a chain, advanced by events: ICA success -> SQS (or the Lambda)
-> ledger -> ``runhub.chain.advance_chains`` -> step 2 launched with step 1's
``test.txt``, exactly once, and the chain's verdict.

Runs where the chain runner (``runhub.chain``, the chains work of issue 17) is
installed beside the events package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from runhub_ica.emulator import IcaEmulator

from runhub.aio import AsyncClient
from runhub.events import EventSink, SqsConsumer, default_listeners, handle_invocation
from runhub.testing.emulator import Clock

from .conftest import Queue, subscribe
from .test_lambda import recorded

chain_module = pytest.importorskip(
    "runhub.chain", reason="the chain runner (runhub.chain) is not in this tree yet"
)

SEED_CHAIN = """\
backend: ica
steps:
  first:
    spec:
      pipeline: fastqc-0-12
      name: Hello-events
      mounts: [{source: /fastqs/, input: reads}]
  second:
    after: [first]
    spec: {pipeline: nf-core-rnaseq-3-14-0, name: CallLambda-events}
    inputs:
      - from: {step: first, outputs: test.txt}
        mount: {input: input}
"""


@pytest.fixture
def seed_app(app: IcaEmulator) -> IcaEmulator:
    app.world.extra_outputs = (("test.txt", 12),)  # the seed document's file
    return app


def second_creates(app: IcaEmulator) -> list[dict[str, Any]]:
    return [b for b in app.created if b["userReference"].startswith("CallLambda")]


def seed_file_id(app: IcaEmulator) -> str:
    (first,) = [a for a in app.analyses if a.user_reference == "Hello-events"]
    return next(d.id for d in first.outputs if d.path.endswith("/test.txt"))


async def start(client: AsyncClient, tmp_path: Path) -> str:
    path = tmp_path / "seed-chain.yaml"
    path.write_text(SEED_CHAIN)
    view = await client.chain(path, wait=False)
    return str(view.id)


def verdict(view: Any) -> str | None:
    (row,) = view.rows
    return row.verdict  # type: ignore[no-any-return]


async def test_the_seed_chain_through_sqs(
    seed_app: IcaEmulator, clock: Clock, client: AsyncClient, queue: Queue, tmp_path: Path
) -> None:
    assert default_listeners() == [chain_module.advance_chains]
    subscribe(seed_app, "SQS", queue.url, "ICA_EXEC_028")
    seed_app.notifier.faults.duplicate = 1.0  # every notification twice
    chain_id = await start(client, tmp_path)
    sink = EventSink(client, default_listeners())
    for _ in range(3):
        clock.advance(60)
        seed_app.notifier.pump()
        await SqsConsumer(queue.url, sink, wait=0).run(drain=True)
    (second,) = second_creates(seed_app)
    assert seed_file_id(seed_app) in json.dumps(second["analysisInput"])
    view = await chain_module.status(client, chain_id, refresh=False)
    assert verdict(view) == "succeeded"
    assert queue.count() == 0


async def test_the_seed_chain_through_the_lambda_handler(
    seed_app: IcaEmulator, clock: Clock, client: AsyncClient, queue: Queue, tmp_path: Path
) -> None:
    """Each notification goes in the recorded SNS event's envelope, as SNS would send it."""
    subscribe(seed_app, "SQS", queue.url, "ICA_EXEC_002")
    await start(client, tmp_path)
    clock.advance(60)
    seed_app.notifier.pump()
    (message,) = seed_app.notifier.delivered
    event = recorded()
    event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    for _ in range(2):  # SNS delivered it twice
        answer = await handle_invocation(event, client=client)
        assert "batchItemFailures" not in answer
    (second,) = second_creates(seed_app)
    assert seed_file_id(seed_app) in json.dumps(second["analysisInput"])
