"""The ledger's chain operations (``Store.keep_chain``, ``chain``, ``mark_chain``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from runhub.ledger import MIGRATIONS, VERDICT, ChainMark, Ledger


def test_a_chain_is_kept_once_with_its_rows_in_order(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        assert ledger.chain("c-1") is None
        rows = [("3", {"s": "B"}), ("2", {"s": "A"})]
        ledger.keep_chain("c-1", {"steps": {"a": {"spec": {"pipeline": "p"}}}}, rows)
        ledger.keep_chain("c-1", {"steps": {}}, [("9", {})])  # the id names the first
        record = ledger.chain("c-1")
        assert record is not None
        assert record.definition == {"steps": {"a": {"spec": {"pipeline": "p"}}}}
        assert record.rows == rows
        assert record.marks == {}


def test_the_first_mark_of_a_step_or_row_stays(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l.sqlite") as ledger:
        ledger.keep_chain("c-1", {"steps": {}}, [("1", {})])
        ledger.mark_chain("c-1", [ChainMark("1", "b", "skipped", "a failed")])
        ledger.mark_chain(
            "c-1",
            [ChainMark("1", "b", "failed to launch", "late"), ChainMark("1", VERDICT, "failed")],
        )
        ledger.mark_chain("c-1", [ChainMark("1", VERDICT, "cancelled")])
        record = ledger.chain("c-1")
        assert record is not None
        assert record.marks[("1", "b")] == ChainMark("1", "b", "skipped", "a failed")
        verdict = record.verdict("1")
        assert verdict is not None
        assert verdict.outcome == "failed"


def test_a_v4_ledger_gains_the_chain_tables_keeping_its_launches(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        for script in MIGRATIONS[:4]:
            db.executescript(script)
        db.execute(
            "INSERT INTO launches (key, backend, spec_hash, ref, created_at, updated_at)"
            " VALUES ('k1', 'toy', 'h', 'toy:r1', 1.0, 1.0)"
        )
        db.execute("PRAGMA user_version = 4")
    with Ledger(path) as ledger:
        assert ledger.schema_version == len(MIGRATIONS)  # chains (v5), then later steps
        assert ledger.get("k1") is not None
        ledger.keep_chain("c-1", {"steps": {}}, [("1", {})])
        assert ledger.chain("c-1") is not None
