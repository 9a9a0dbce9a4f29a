"""The chain operations on both stores (SQLite and a real PostgreSQL), and a chain
advanced by several processes at once through one PostgreSQL ledger."""

from __future__ import annotations

import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runhub.ledger import VERDICT, ChainMark, Ledger


def test_a_chain_is_kept_once_and_its_first_marks_stay(any_ledger: Ledger) -> None:
    assert any_ledger.chain("c-1") is None
    rows = [("3", {"s": "B"}), ("2", {"s": "A"})]
    any_ledger.keep_chain("c-1", {"steps": {"a": {"spec": {"pipeline": "p"}}}}, rows)
    any_ledger.keep_chain("c-1", {"steps": {}}, [("9", {})])  # an id names one chain
    any_ledger.mark_chain("c-1", [ChainMark("3", "b", "skipped", "a failed")])
    any_ledger.mark_chain(
        "c-1", [ChainMark("3", "b", "failed to launch"), ChainMark("3", VERDICT, "failed")]
    )
    any_ledger.mark_chain("c-1", [ChainMark("3", VERDICT, "cancelled")])
    record = any_ledger.chain("c-1")
    assert record is not None
    assert record.definition == {"steps": {"a": {"spec": {"pipeline": "p"}}}}
    assert record.rows == rows
    assert record.marks[("3", "b")] == ChainMark("3", "b", "skipped", "a failed")
    verdict = record.verdict("3")
    assert verdict is not None
    assert verdict.outcome == "failed"
    assert record.verdict("2") is None


def test_processes_advancing_one_chain_on_postgresql_launch_each_step_once(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RUNHUB_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.chdir(tmp_path)
    ok = tmp_path / "ok"
    ok.mkdir()
    (ok / "run").write_text("#!/bin/sh\necho done > results/out.txt\n")
    (ok / "run").chmod((ok / "run").stat().st_mode | stat.S_IXUSR)
    (tmp_path / "chain.yaml").write_text(
        f"backend: local\nsteps:\n  a: {{spec: {{pipeline: {ok}}}}}\n"
        f"  b: {{spec: {{pipeline: {ok}}}, after: [a]}}\n"
        "  c:\n    spec: {pipeline: " + str(ok) + "}\n"
        "    inputs: [{from: {step: b, outputs: out.txt}, mount: {path: in.txt}}]\n"
    )
    (tmp_path / "sheet.csv").write_text("n\n" + "\n".join(str(i) for i in range(4)) + "\n")
    code = textwrap.dedent(
        f"""
        import asyncio
        from runhub.aio import AsyncClient
        from runhub.ledger import Ledger
        async def go():
            async with AsyncClient(ledger=Ledger({pg_url!r})) as client:
                done = await client.chain("chain.yaml", "sheet.csv", poll_interval=0.05)
                assert done.verdict == "succeeded", done.to_dict()
        asyncio.run(go())
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path) for _ in range(3)]
    assert [p.wait(180) for p in procs] == [0, 0, 0]
    assert len(list((tmp_path / "home" / "runs").iterdir())) == 4 * 3  # 4 rows, 3 steps each
