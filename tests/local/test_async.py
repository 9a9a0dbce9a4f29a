"""The local backend through AsyncClient: launch_many, watch, cancel."""

from __future__ import annotations

import asyncio
from pathlib import Path

from runhub.client import AsyncClient, PollSchedule
from runhub.spec import RunSpec
from runhub.state import RunState

FAST = PollSchedule(initial=0.01, cap=0.05)


def test_launch_many_then_watch(home: Path, pipeline: Path) -> None:
    specs = [RunSpec(pipeline=str(pipeline), parameters={"exit": code}) for code in (0, 0, 4, 0)]

    async def scenario() -> tuple[list[str | None], dict[str, RunState]]:
        async with AsyncClient(settings={"local": {"home": str(home)}}) as client:
            launched = await client.launch_many(specs, "local", batch="b-1", concurrency=2)
            final: dict[str, RunState] = {}
            async for status in client.watch([s.ref for s in launched], poll=FAST):
                if status.is_terminal:
                    final[str(status.ref)] = status.state
            return [s.ref.batch for s in launched], {
                str(s.ref): final[str(s.ref)] for s in launched
            }

    batches, final = asyncio.run(scenario())
    assert batches == ["b-1"] * 4
    assert list(final.values()) == [
        RunState.SUCCEEDED, RunState.SUCCEEDED, RunState.FAILED, RunState.SUCCEEDED,
    ]  # fmt: skip


def test_async_cancel_and_wait(home: Path, pipeline: Path) -> None:
    async def scenario() -> RunState:
        async with AsyncClient(settings={"local": {"home": str(home)}}) as client:
            run = await client.launch(RunSpec(pipeline=str(pipeline), parameters={"sleep": 60}))
            await client.cancel(run.ref)
            return (await client.wait(run.ref, timeout=30, poll=FAST)).state

    assert asyncio.run(scenario()) is RunState.CANCELLED
