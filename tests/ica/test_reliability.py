"""Many runs at once (AsyncClient), and faults over real sockets: never a duplicate run."""

from __future__ import annotations

import asyncio

from runhub_ica.emulator import IcaEmulator, seed

from runhub.aio import AsyncClient
from runhub.client import Client, PollSchedule
from runhub.policy import RetryPolicy
from runhub.state import RunState
from runhub.testing.emulator import Clock, EmulatorServer, FaultPlan, mock_transport

from .conftest import API_KEY, FASTQC, plugins, spec

SETTINGS = {"x_api_key": API_KEY, "project_id": seed.PROJECT_ID}


def test_launch_many_then_watch_polls_one_search_per_cycle() -> None:
    app = IcaEmulator(Clock(speed=2000.0))  # ~8 emulated seconds pass in ~4 ms
    specs = [spec(pipeline=FASTQC, name=f"sample {i}", mounts=[{"source": "/fastqs/"}])
             for i in range(40)]  # fmt: skip

    async def scenario() -> list[RunState]:
        async with AsyncClient(
            settings={"ica": {"server_url": "http://127.0.0.1:9", **SETTINGS}},
            transport=mock_transport(app),
            plugins=plugins(),
        ) as client:
            launched = await client.launch_many(specs, concurrency=8, batch="plate-7")
            assert {s.ref.batch for s in launched} == {"plate-7"}
            before = len(app.log)
            final: dict[str, RunState] = {}
            async for status in client.watch(
                [s.ref for s in launched], poll=PollSchedule(initial=0.01, cap=0.02, jitter=0)
            ):
                final[str(status.ref)] = status.state
            polls = app.log[before:]
            assert polls, "watch polled nothing"
            assert all(line.endswith("/analysis:search") for line in polls), set(polls)
            return list(final.values())

    states = asyncio.run(scenario())
    assert len(app.analyses) == 40
    assert states == [RunState.SUCCEEDED] * 40
    listings = [line for line in app.log if line.endswith("/pipelines")]
    assert 1 <= len(listings) <= 8  # cached; at most one per concurrent launch in flight


def test_faults_over_http_never_duplicate_a_launch() -> None:
    clock = Clock(speed=0.0)
    app = IcaEmulator(clock)
    kinds = ["429", "503", "502", "504", "drop-before", "drop-after", "malformed"]
    faults = FaultPlan(rate=0.3, kinds=kinds, seed=11, retry_after=0.001)
    policy = RetryPolicy(attempts=12, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0,
                         max_retry_after=0.01)  # fmt: skip
    with (
        EmulatorServer(app, faults=faults) as server,
        Client(
            settings={"ica": {"server_url": server.url, **SETTINGS}},
            policy=policy,
            plugins=plugins(),
        ) as client,
    ):
        refs = [client.launch(spec(name=f"run {i}"), batch="flaky").ref for i in range(12)]
        clock.advance(60)
        done = client.statuses(refs)
    assert sum(faults.counts.values()) > 0
    assert faults.counts["drop-after"] > 0 or faults.counts["malformed"] > 0
    assert len(app.analyses) == 12
    assert len({r.id for r in refs}) == 12
    assert {s.state for s in done} == {RunState.SUCCEEDED}
