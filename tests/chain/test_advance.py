"""``advance_chains``: the contract with event consumers, exactly once."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runhub.aio import AsyncClient
from runhub.chain import advance_chains
from runhub.errors import TransportError
from runhub.ledger import Ledger
from runhub.ref import RunRef
from runhub.state import RunState, RunStatus


def _chain(tmp_path: Path, first: str, second: str) -> Path:
    path = tmp_path / "chain.yaml"
    path.write_text(
        "backend: local\nsteps:\n"
        f"  a: {{spec: {{pipeline: {first}}}}}\n"
        f"  b: {{spec: {{pipeline: {second}}}, after: [a]}}\n"
    )
    return path


def test_a_terminal_state_recorded_in_the_ledger_launches_the_next_step_once(
    tmp_path: Path, pipeline: Callable[[str, str], str], runs: Callable[[], int]
) -> None:
    # Step a runs for a minute; the "event" says it succeeded (as a consumer records it).
    chain = _chain(tmp_path, pipeline("slow", "exec sleep 60\n"), pipeline("ok", "true\n"))

    async def scenario() -> None:
        async with AsyncClient(ledger=Ledger(tmp_path / "ledger.sqlite")) as client:
            started = await client.chain(chain, wait=False)
            ref = started.rows[0].step("a").ref
            assert ref is not None
            assert runs() == 1
            await advance_chains(client, [ref])  # not terminal in the ledger: nothing
            assert runs() == 1
            await advance_chains(client, ["local:not-a-chain-step", "ica:x/y"])
            assert client.ledger is not None
            client.ledger.observe([RunStatus(RunRef.parse(ref), RunState.SUCCEEDED, "SUCCEEDED")])
            # Duplicated and concurrent deliveries of the same event: one launch.
            await asyncio.gather(*(advance_chains(client, [ref, ref]) for _ in range(4)))
            await advance_chains(client, [ref])
            assert runs() == 2
            launches = client.ledger.batch(started.id)
            assert sorted(str(launch.row_key) for launch in launches) == ["1/a", "1/b"]
            await client.cancel(ref)

    asyncio.run(scenario())


def test_two_processes_advancing_one_chain_launch_each_step_once(
    tmp_path: Path, pipeline: Callable[[str, str], str], runs: Callable[[], int]
) -> None:
    chain = _chain(tmp_path, pipeline("slow", "exec sleep 60\n"), pipeline("ok", "true\n"))
    ledger_path = tmp_path / "ledger.sqlite"

    async def start() -> str:
        async with AsyncClient(ledger=Ledger(ledger_path)) as client:
            started = await client.chain(chain, wait=False)
            ref = started.rows[0].step("a").ref
            assert ref is not None
            assert client.ledger is not None
            client.ledger.observe([RunStatus(RunRef.parse(ref), RunState.FAILED, "FAILED")])
            return ref

    ref = asyncio.run(start())
    # a "failed": b (when: succeeded) is skipped; the processes agree on the mark.
    code = textwrap.dedent(
        f"""
        import asyncio
        from runhub.aio import AsyncClient
        from runhub.chain import advance_chains
        from runhub.ledger import Ledger
        async def go():
            async with AsyncClient(ledger=Ledger({str(ledger_path)!r})) as client:
                await advance_chains(client, [{ref!r}])
        asyncio.run(go())
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    assert [p.wait(120) for p in procs] == [0, 0]
    with Ledger(ledger_path) as ledger:
        launch = ledger.by_ref(ref)
        assert launch is not None
        assert launch.batch is not None
        record = ledger.chain(launch.batch)
        assert record is not None
        assert record.marks[("1", "b")].outcome == "skipped"
        verdict = record.verdict("1")
        assert verdict is not None
        assert verdict.outcome == "failed"
    assert runs() == 1
    subprocess.run([sys.executable, "-m", "runhub.cli", "cancel", "--yes", ref], check=False)


def test_concurrent_processes_launch_a_due_step_once(
    tmp_path: Path, pipeline: Callable[[str, str], str], runs: Callable[[], int]
) -> None:
    chain = _chain(tmp_path, pipeline("slow", "exec sleep 60\n"), pipeline("ok", "true\n"))
    ledger_path = tmp_path / "ledger.sqlite"

    async def start() -> str:
        async with AsyncClient(ledger=Ledger(ledger_path)) as client:
            started = await client.chain(chain, wait=False)
            ref = started.rows[0].step("a").ref
            assert ref is not None
            assert client.ledger is not None
            client.ledger.observe([RunStatus(RunRef.parse(ref), RunState.SUCCEEDED, "SUCCEEDED")])
            return ref

    ref = asyncio.run(start())
    code = textwrap.dedent(
        f"""
        import asyncio
        from runhub.aio import AsyncClient
        from runhub.chain import advance_chains
        from runhub.ledger import Ledger
        async def go():
            async with AsyncClient(ledger=Ledger({str(ledger_path)!r})) as client:
                await advance_chains(client, [{ref!r}])
        asyncio.run(go())
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    assert runs() == 2
    subprocess.run([sys.executable, "-m", "runhub.cli", "cancel", "--yes", ref], check=False)


def test_a_transient_failure_to_launch_raises_so_the_event_is_delivered_again(
    tmp_path: Path,
    pipeline: Callable[[str, str], str],
    runs: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    chain = _chain(tmp_path, pipeline("slow", "exec sleep 60\n"), pipeline("ok", "true\n"))
    real_launch = AsyncClient.launch
    lost: list[int] = []

    async def flaky(self: AsyncClient, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("row_key") == "1/b" and not lost:
            lost.append(1)  # the network drops once, before anything was sent
            raise TransportError("connection refused")
        return await real_launch(self, *args, **kwargs)

    async def scenario() -> None:
        async with AsyncClient(ledger=Ledger(tmp_path / "ledger.sqlite")) as client:
            started = await client.chain(chain, wait=False)
            ref = started.rows[0].step("a").ref
            assert ref is not None
            assert client.ledger is not None
            client.ledger.observe([RunStatus(RunRef.parse(ref), RunState.SUCCEEDED, "SUCCEEDED")])
            monkeypatch.setattr(AsyncClient, "launch", flaky)
            with pytest.raises(TransportError, match="connection refused"):
                await advance_chains(client, [ref])
            assert runs() == 1
            await advance_chains(client, [ref])  # the redelivered event
            assert runs() == 2
            await client.cancel(ref)

    asyncio.run(scenario())
