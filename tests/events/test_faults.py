"""The seed scenario through events, under every delivery fault: one effect each.

ICA (the emulator) -> moto SQS -> SqsConsumer -> ledger -> SeedChain (step 2 launched
on step 1's output). Whatever happens to the messages, step 2 is created once, with
step 1's output file, and the ledger ends with each run's true state.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from runhub_ica.emulator import IcaEmulator

from runhub.aio import AsyncClient
from runhub.events import EventSink, Outcome, SqsConsumer
from runhub.ledger import Ledger
from runhub.spec import RunSpec
from runhub.testing.emulator import Clock

from .conftest import Queue, SeedChain, make_client, step1_spec, subscribe


def step2_creates(app: IcaEmulator) -> list[dict[str, Any]]:
    return [body for body in app.created if body["userReference"].startswith("step2-")]


def output_file(app: IcaEmulator, name: str) -> str:
    (rec,) = [a for a in app.analyses if a.user_reference == name]
    (found,) = [d for d in rec.outputs if d.path.endswith(".summary.tsv")]
    return found.id


def input_ids(body: dict[str, Any]) -> list[str]:
    return [i for entry in body["analysisInput"]["inputs"] for i in entry["dataIds"]]


async def consume(client: AsyncClient, queue: Queue, chain: SeedChain) -> EventSink:
    sink = EventSink(client, [chain])
    await SqsConsumer(queue.url, sink, wait=0).run(drain=True)
    return sink


async def launch_steps1(client: AsyncClient, count: int = 1) -> list[str]:
    refs = []
    for n in range(count):
        status = await client.launch(RunSpec.from_data(step1_spec(f"step1-s{n}")))
        refs.append(str(status.ref))
    return refs


async def test_seed_scenario_step2_is_launched_with_step1s_output(
    app: IcaEmulator, clock: Clock, client: AsyncClient, ledger: Ledger, queue: Queue
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_028", "ICA_EXEC_002")
    (ref,) = await launch_steps1(client)
    clock.advance(60)
    app.notifier.pump()
    chain = SeedChain()
    sink = await consume(client, queue, chain)
    (created,) = step2_creates(app)
    assert input_ids(created) == [output_file(app, "step1-s0")]
    row = ledger.by_ref(ref)
    assert row is not None
    assert row.state == "SUCCEEDED"
    # In order: QUEUED, INITIALIZING, IN_PROGRESS, GENERATING_OUTPUTS, SUCCEEDED move the
    # run on; REQUESTED (the launch recorded it), PREPARING_INPUTS (INITIALIZING too) and
    # the ICA_EXEC_002 after the ICA_EXEC_028 SUCCEEDED change nothing.
    assert sink.counts[Outcome.APPLIED] == 5
    assert sink.counts[Outcome.STALE] == 3
    assert queue.count() == 0  # every message deleted once applied


@pytest.mark.parametrize(
    "fault",
    ["duplicate", "reorder", "delay"],
)
async def test_faulty_delivery_still_gives_one_step2_per_step1(
    fault: str, app: IcaEmulator, clock: Clock, client: AsyncClient, ledger: Ledger, queue: Queue
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_028", "ICA_EXEC_002")
    faults = app.notifier.faults
    faults._random.seed(7)
    if fault == "duplicate":
        faults.duplicate = 1.0
    elif fault == "reorder":
        faults.reorder = True
    else:
        faults.delay, faults.delay_seconds = 0.5, 40.0
    refs = await launch_steps1(client, 5)
    chain = SeedChain()
    for _ in range(4):  # deliveries spread over time, consumed as they come
        clock.advance(30)
        app.notifier.pump()
        await consume(client, queue, chain)
    creates = step2_creates(app)
    assert sorted(c["userReference"] for c in creates) == [f"step2-s{n}" for n in range(5)]
    for n, body in enumerate(sorted(creates, key=lambda c: c["userReference"])):
        assert input_ids(body) == [output_file(app, f"step1-s{n}")]
    for ref in refs:
        row = ledger.by_ref(ref)
        assert row is not None
        assert row.state == "SUCCEEDED"
    assert queue.count() == 0


async def test_a_late_event_never_moves_a_run_back(
    app: IcaEmulator, clock: Clock, client: AsyncClient, ledger: Ledger, queue: Queue
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_028")
    (ref,) = await launch_steps1(client)
    clock.advance(60)
    app.notifier.pump()
    received = []
    while True:
        got = queue.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)
        if not got.get("Messages"):
            break
        for m in got["Messages"]:
            received.append(m["Body"])
            queue.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])
    statuses = [json.loads(b)["eventParameters"]["analysisStatus"] for b in received]
    assert statuses[-1] == "SUCCEEDED"
    for body in reversed(received):  # newest first: every older one is stale
        queue.send(body)
    sink = await consume(client, queue, SeedChain())
    row = ledger.by_ref(ref)
    assert row is not None
    assert (row.state, row.native) == ("SUCCEEDED", "SUCCEEDED")
    assert sink.counts[Outcome.APPLIED] == 1
    assert sink.counts[Outcome.STALE] == 6


async def test_a_dropped_event_delays_step2_until_the_safety_net_polls(
    app: IcaEmulator, clock: Clock, client: AsyncClient, ledger: Ledger, queue: Queue
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_002")
    (ref,) = await launch_steps1(client)
    app.notifier.faults.push("drop")
    clock.advance(60)
    app.notifier.pump()
    chain = SeedChain()
    await consume(client, queue, chain)
    assert step2_creates(app) == []  # the only success event was lost
    row = ledger.by_ref(ref)
    assert row is not None
    assert row.state != "SUCCEEDED"
    # The safety net (a chain's or watch's poll) records the state, then the listener runs.
    await client.status(ref)
    await chain(client, [ref])
    assert len(step2_creates(app)) == 1


async def test_two_consumers_on_one_queue_launch_each_step2_once(
    app: IcaEmulator, clock: Clock, client: AsyncClient, queue: Queue, tmp_path: Any
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_028", "ICA_EXEC_002")
    app.notifier.faults.duplicate = 0.5
    await launch_steps1(client, 6)
    clock.advance(60)
    app.notifier.pump()
    # Two consumers as two processes would be: their own clients, sinks and ledger
    # connections, on one ledger file and one queue.
    path = client.ledger.path  # type: ignore[union-attr]
    with Ledger(path) as one, Ledger(path) as two:
        async with make_client(app, one) as c1, make_client(app, two) as c2:
            chains = [SeedChain(), SeedChain()]
            sinks = [EventSink(c1, [chains[0]]), EventSink(c2, [chains[1]])]
            await asyncio.gather(
                *(SqsConsumer(queue.url, s, wait=0, batch=2).run(drain=True) for s in sinks)
            )
    assert sorted(c["userReference"] for c in step2_creates(app)) == [
        f"step2-s{n}" for n in range(6)
    ]
    assert all(s.counts[Outcome.APPLIED] > 0 for s in sinks)  # both did work
    assert queue.count() == 0


async def test_malformed_messages_are_logged_kept_for_the_dead_letter_queue_and_launch_nothing(
    app: IcaEmulator,
    client: AsyncClient,
    queue: Queue,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="runhub.events")
    bad = {
        queue.send("{this is not json"): "not JSON",
        queue.send(json.dumps({"eventCode": "ICA_EXEC_028", "payload": {"id": "x"}})): "projectId",
        queue.send(json.dumps({"Type": "Notification", "Message": "[]"})): "JSON object",
        queue.send(json.dumps({"some": "thing else"})): "no installed backend",
    }
    chain = SeedChain()
    sink = EventSink(client, [chain])
    consumer = SqsConsumer(queue.url, sink, wait=0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while queue.count(queue.dead_letter) < len(bad) and loop.time() < deadline:
        await consumer.run(drain=True)  # never raises
        await asyncio.sleep(0.3)  # visibility timeout (1 s) lets them come back
    assert queue.count(queue.dead_letter) == len(bad)  # the redrive policy moved them
    assert queue.count() == 0
    assert consumer.stats.deleted == 0
    assert chain.calls == 0
    assert app.created == []
    for ident, words in bad.items():
        lines = [r.getMessage() for r in caplog.records if ident in r.getMessage()]
        assert lines, f"message {ident} was not logged"
        assert words in lines[0]


async def test_a_failing_listener_keeps_the_message_for_another_delivery(
    app: IcaEmulator, clock: Clock, client: AsyncClient, queue: Queue
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_002")
    await launch_steps1(client)
    clock.advance(60)
    app.notifier.pump()
    attempts = []

    async def flaky(c: AsyncClient, refs: Any) -> None:
        attempts.append(list(refs))
        if len(attempts) == 1:
            raise RuntimeError("the chain's platform is down")

    sink = EventSink(client, [flaky])
    consumer = SqsConsumer(queue.url, sink, wait=0)
    await consumer.run(drain=True)
    assert consumer.stats.kept == 1
    assert queue.count() == 1
    await asyncio.sleep(1.2)  # the visibility timeout
    await consumer.run(drain=True)
    assert len(attempts) == 2
    assert queue.count() == 0


async def test_through_an_sns_topic_into_the_queue(
    app: IcaEmulator, clock: Clock, client: AsyncClient, ledger: Ledger, queue: Queue
) -> None:
    """The seed's topic, with an SQS subscription (not raw): SNS envelopes in SQS bodies."""
    import boto3

    sns = boto3.client(
        "sns", region_name="us-east-1", endpoint_url=app.notifier.aws["endpoint_url"]
    )
    topic = sns.create_topic(Name=f"ica-analysis-events-{queue.url.rsplit('-', 1)[1]}")["TopicArn"]
    arn = queue.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["QueueArn"])
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
    subscribe(app, "SNS", topic, "ICA_EXEC_002")
    (ref,) = await launch_steps1(client)
    clock.advance(60)
    app.notifier.pump()
    sink = await consume(client, queue, SeedChain())
    assert sink.counts[Outcome.APPLIED] == 1
    assert len(step2_creates(app)) == 1
    assert ledger.by_ref(ref).state == "SUCCEEDED"  # type: ignore[union-attr]


async def test_the_consumer_outlives_a_queue_that_fails_under_it(
    client: AsyncClient, queue: Queue
) -> None:
    consumer = SqsConsumer(queue.url, EventSink(client), wait=0, backoff=lambda n: 0.01)
    await consumer.check()
    queue.sqs.delete_queue(QueueUrl=queue.url)  # every receive now fails
    task = asyncio.ensure_future(consumer.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while consumer.stats.errors < 3 and loop.time() < deadline and not task.done():
        await asyncio.sleep(0.05)
    assert not task.done()  # still running: errors are logged and retried
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert consumer.stats.errors >= 3
