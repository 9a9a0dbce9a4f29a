"""The PostgreSQL store's own promises, on a real server: migrations under a lock,
claims that one process wins, commits that survive a dropped connection, and a
password that is never shown."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from pgrelay import Relay

from runhub.errors import LedgerError
from runhub.ledger import Intent, Ledger
from runhub.ledger.location import masked
from runhub.ledger.postgres import PostgresStore
from runhub.ledger.postgres_schema import CURRENT, MIGRATIONS
from runhub.testing.pgserver import PASSWORD


def together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """``work(i)`` in ``n`` threads released at the same moment; their results."""
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n

    def one(i: int) -> None:
        barrier.wait()
        try:
            out[i] = work(i)
        except Exception as error:  # reported by the caller's assertions
            out[i] = error

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return out


def sql(url: str, statement: str, args: Any = None) -> list[Any]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement, args)
        return cursor.fetchall() if cursor.description else []


# -- migrations --------------------------------------------------------------------------


def test_a_new_database_is_migrated_once_by_many_first_openers(pg_url: str) -> None:
    opened = together(6, lambda _: Ledger(pg_url).schema_version)
    assert opened == [CURRENT] * 6
    applied = sql(pg_url, "SELECT version, why FROM runhub_schema ORDER BY version")
    assert [v for v, _ in applied] == list(range(1, CURRENT + 1))  # each step exactly once
    assert all(why for _, why in applied)


def test_an_older_schema_is_migrated_forward_keeping_its_rows(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE runhub_schema (version INTEGER PRIMARY KEY, why TEXT NOT NULL,"
            " runhub TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for step in MIGRATIONS[:1]:
            conn.execute(step.sql.encode())
            conn.execute("INSERT INTO runhub_schema VALUES (%s, %s, 'old')", (1, step.why))
        conn.execute(
            "INSERT INTO launches (key, backend, spec_hash, created_at, updated_at)"
            " VALUES ('old-row', 'toy', 'h', 1, 1)"
        )
    ledger = Ledger(pg_url)
    assert ledger.schema_version == CURRENT
    assert ledger.get("old-row") is not None
    assert ledger.store.counts()["pruned"] == 0  # the later steps' tables exist


def test_a_newer_schema_is_refused_in_one_line(pg_url: str) -> None:
    Ledger(pg_url).close()
    sql(pg_url, "INSERT INTO runhub_schema VALUES (%s, 'from the future', '9.9')", (CURRENT + 1,))
    with pytest.raises(LedgerError) as refused:
        Ledger(pg_url)
    text = str(refused.value)
    assert f"(v{CURRENT + 1}) is newer than this runhub understands (v{CURRENT})" in text
    assert "upgrade runhub" in text
    assert "\n" not in text
    assert PASSWORD not in text


# -- claims and intents under concurrency ----------------------------------------------


def test_of_many_claimers_of_a_row_exactly_one_wins(pg_url: str) -> None:
    ledgers = [Ledger(pg_url) for _ in range(8)]
    records = ledgers[0].intents([Intent("toy", "h", "b", f"r{i}") for i in range(25)])
    for record in records:
        got = together(8, lambda i, r=record: ledgers[i].claim(r, f"host{i}/1/t", 600).mine)
        assert sorted(got) == [False] * 7 + [True]


def test_processes_recording_one_batch_at_once_get_the_same_rows(pg_url: str) -> None:
    wanted = [Intent("toy", f"h{i}", "b", f"r{i}") for i in range(200)]
    ledgers = [Ledger(pg_url) for _ in range(4)]
    got = together(4, lambda i: [r.key for r in ledgers[i].intents(wanted)])
    assert all(keys == got[0] for keys in got), got
    assert ledgers[0].store.counts()["launches"] == 200


# -- faults ------------------------------------------------------------------------------


def test_a_commit_whose_answer_was_lost_is_retried_writing_nothing_twice(
    pg_url: str, postgres_server: Any
) -> None:
    direct = Ledger(pg_url)
    with Relay(postgres_server.port) as relay:
        via = pg_url.replace(f":{postgres_server.port}/", f":{relay.port}/")
        ledger = Ledger(via)
        store = ledger.store
        assert isinstance(store, PostgresStore)
        relay.drop_next_commit()
        records = ledger.intents([Intent("toy", f"h{i}", "b", f"r{i}") for i in range(10)])
        assert relay.dropped == 1
        assert direct.store.counts()["launches"] == 10
        relay.drop_next_commit(2)  # the claim's read of the row, then its update
        assert ledger.claim(records[0], "me/1/a", 600).mine
        relay.drop_next_commit()
        assert ledger.sent(records[0].key, "me/1/a", 600)
        relay.drop_next_commit()
        ledger.launched(records[0].key, _status("toy:1"))
        assert relay.dropped == 5
        assert store.db.reconnects == 5
    row = direct.get(records[0].key)
    assert row is not None
    assert (row.attempts, row.ref, row.claim_owner) == (1, "toy:1", None)


def test_a_server_restart_between_operations_is_ridden_out(
    pg_url: str, postgres_server: Any
) -> None:
    ledger = Ledger(pg_url)
    (record,) = ledger.intents([Intent("toy", "h", "b", "r")])
    postgres_server.stop_server()  # every connection dropped; down for a second
    starting = threading.Timer(1.0, postgres_server.start_server)
    starting.start()
    try:
        assert ledger.claim(record, "me/1/a", 600).mine  # waits for the server, then claims
    finally:
        starting.join()
    assert ledger.get(record.key).claim_owner == "me/1/a"  # type: ignore[union-attr]
    assert ledger.store.db.reconnects >= 1  # type: ignore[attr-defined]


def test_an_unreachable_server_is_one_line_without_the_password() -> None:
    with __import__("socket").socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nobody listens
    url = f"postgresql://runhub:{PASSWORD}@127.0.0.1:{port}/team"
    started = time.monotonic()
    with pytest.raises(LedgerError) as failed:
        Ledger(url)
    assert time.monotonic() - started < 30  # not retried for minutes at start
    text = str(failed.value)
    assert text.startswith(f"the ledger postgresql://runhub:***@127.0.0.1:{port}/team cannot be")
    assert PASSWORD not in text
    assert "\n" not in text


def test_a_wrong_password_is_named_but_never_shown(postgres_server: Any) -> None:
    wrong = "WRONG-pw-1b2c3d"
    url = postgres_server.url("postgres").replace(PASSWORD, wrong)
    with pytest.raises(LedgerError) as failed:
        Ledger(url)
    assert "refused the login" in str(failed.value)
    assert wrong not in str(failed.value)
    assert PASSWORD not in str(failed.value)


def test_the_password_is_in_no_repr_or_location(pg_url: str) -> None:
    ledger = Ledger(pg_url)
    for shown in (repr(ledger), repr(ledger.store), ledger.location, masked(pg_url)):
        assert PASSWORD not in shown
        assert ":***@127.0.0.1" in shown
    query = masked("postgresql://h/db?user=a&password=s3cret&sslmode=require")
    assert "s3cret" not in query
    assert "sslmode=require" in query


def test_without_psycopg_a_postgresql_ledger_is_one_line_naming_the_extra() -> None:
    code = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from runhub.cli import run\n"
        "sys.exit(run(['ledger', 'info']))\n"
    )
    env = {**os.environ, "RUNHUB_LEDGER": f"postgresql://me:{PASSWORD}@127.0.0.1:1/team"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install 'runhub[postgres]'" in lines[0]
    assert PASSWORD not in done.stderr


def _status(ref: str) -> Any:
    from runhub.backend import RunRef
    from runhub.state import RunState, RunStatus

    backend, _, run = ref.partition(":")
    return RunStatus(RunRef(backend, run), RunState.QUEUED, "queued")


def test_a_malformed_url_is_one_line_saying_how_to_write_it() -> None:
    for url in (
        f"postgresql://me:{PASSWORD}@127.0.0.1:notaport/db",
        f"postgresql://me@127.0.0.1/db?nosuchoption=1&password={PASSWORD}",
    ):
        with pytest.raises(LedgerError) as failed:
            Ledger(url)
        text = str(failed.value)
        assert "is not a valid PostgreSQL URL" in text
        assert "postgresql://user@host:port/database" in text
        assert PASSWORD not in text
