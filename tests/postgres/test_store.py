"""Both stores answer every Store operation alike (SQLite and a real PostgreSQL).

The Ledger's rules (tests/core) sit on these operations; here each is driven
directly, with the same expectations for both stores, so the PostgreSQL store
keeps exactly the SQLite store's behaviour.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runhub.ledger import Intent, Ledger, attempt_key
from runhub.ledger.records import launch_key
from runhub.ledger.store import Query, Result
from runhub.ledger.transfer import copy_ledger


def rows(n: int, batch: str = "b-1") -> list[Intent]:
    return [Intent("toy", f"h{i}", batch, f"r{i}", f"sample {i}") for i in range(n)]


def test_intents_are_insert_or_get_with_derived_keys(any_ledger: Ledger) -> None:
    first = any_ledger.intents(rows(3))
    assert [r.key for r in first] == [launch_key("b-1", f"r{i}") for i in range(3)]
    again = any_ledger.intents(rows(4))
    assert [r.key for r in again[:3]] == [r.key for r in first]
    assert [r.created_at for r in again[:3]] == [r.created_at for r in first]
    assert [r.row_key for r in any_ledger.batch("b-1")] == ["r0", "r1", "r2", "r3"]
    lone = any_ledger.intent("toy", "h")
    assert len(lone.key) == 32
    assert any_ledger.intent("toy", "h", key="mine").key == "mine"
    assert any_ledger.intent("toy", "h", key="mine").created_at == any_ledger.get("mine").created_at  # type: ignore[union-attr]


def test_a_callers_key_for_another_spec_is_reused_only_if_it_made_nothing(
    any_ledger: Ledger,
) -> None:
    any_ledger.intent("toy", "h1", key="k")
    assert any_ledger.intent("toy", "h2", key="k").spec_hash == "h2"  # never sent: replaced
    any_ledger.store.attempt(["k"], time.time())
    with pytest.raises(Exception, match="already used"):
        any_ledger.intent("toy", "h3", key="k")


def test_claims_are_compare_and_swap_on_the_owner(any_ledger: Ledger) -> None:
    (row,) = any_ledger.intents(rows(1))
    store, now = any_ledger.store, time.time()
    assert store.claim(row.key, "a/1/x", now + 60, now) is not None
    assert store.claim(row.key, "b/1/x", now + 60, now) is None  # held, live
    assert store.claim(row.key, "b/1/x", now + 60, now, replacing="c/1/x") is None  # wrong one
    assert store.claim(row.key, "b/1/x", now + 60, now, replacing="a/1/x") is None  # lease on
    got = store.claim(row.key, "b/1/x", now + 60, now, replacing="a/1/x", dead=True)
    assert got is not None
    assert got.claim_owner == "b/1/x"
    assert not store.sent(row.key, "a/1/x", now + 60, now)  # lost its claim: sends nothing
    assert store.sent(row.key, "b/1/x", now + 60, now + 1)
    assert store.renew(row.key, "b/1/x", now + 120)
    assert not store.renew(row.key, "a/1/x", now + 120)
    after = store.get(row.key)
    assert after is not None
    assert (after.attempts, after.attempted_at, after.sent_at) == (1, now + 1, now + 1)
    assert after.claim_until == now + 120
    # An expired lease is taken over; an attempted row's sent_at rises to its end.
    taken = store.claim(
        row.key, "c/1/x", now + 999, now + 200, replacing="b/1/x", settle_from=now + 120
    )
    assert taken is not None
    assert taken.sent_at == now + 120
    store.release(row.key, "b/1/x")  # not the holder: nothing
    assert store.get(row.key).claim_owner == "c/1/x"  # type: ignore[union-attr]
    store.release(row.key, "c/1/x")
    assert store.get(row.key).claim_owner is None  # type: ignore[union-attr]


def test_results_queries_and_status_cache(any_ledger: Ledger) -> None:
    a, b, c = any_ledger.intents(rows(3))
    store, now = any_ledger.store, time.time()
    store.launched(a.key, Result("toy:1", "g", "RUNNING", "running", "named"), now)
    store.failed(b.key, "refused: bad input", now)
    store.discard(c.key)
    assert store.get(c.key) is None
    assert store.by_ref("toy:1").key == a.key  # type: ignore[union-attr]
    store.observe([("toy:1", "SUCCEEDED", "done")], now + 1)
    assert store.get(a.key).state == "SUCCEEDED"  # type: ignore[union-attr]
    assert [r.key for r in store.runs(Query(state="ERROR"))] == [b.key]
    assert [r.key for r in store.runs(Query(batch="b-1"))] == [b.key, a.key]  # newest first
    assert store.runs(Query(batch="b-1", limit=1))[0].key == b.key
    assert store.runs(Query(backend="other")) == []
    assert store.owned_runs("toy") == frozenset({"1"})
    assert store.known_keys("b-1") == frozenset({a.key})


def test_prune_keeps_tombstones_that_bring_the_run_back(any_ledger: Ledger) -> None:
    (row,) = any_ledger.intents(rows(1))
    store, now = any_ledger.store, time.time()
    store.launched(row.key, Result("toy:9", None, "SUCCEEDED", "done", None), now - 100)
    assert store.prune(now - 10, now) == 1
    assert store.get(row.key) is None
    assert store.counts()["pruned"] == 1
    assert store.known_keys("b-1") == frozenset({row.key})
    (back,) = any_ledger.intents(rows(1))
    assert (back.key, back.ref) == (row.key, "toy:9")


def test_specs_relaunches_and_attempts(any_ledger: Ledger) -> None:
    first = any_ledger.intent("toy", "h", batch="b", row_key="r_1%")
    second = any_ledger.intent("toy", "h", batch="b", row_key=attempt_key("r_1%", 2))
    any_ledger.intent("toy", "h", batch="b", row_key="rx1%@2")  # LIKE must not match it
    any_ledger.keep_specs([(first.key, {"p": 1}, None), (second.key, {"p": 2}, first.key)])
    any_ledger.keep_specs([(first.key, {"p": "other"}, None)])  # the first spec stays
    assert any_ledger.spec_record(first.key).spec == {"p": 1}  # type: ignore[union-attr]
    assert [r.key for r in any_ledger.relaunches(first.key)] == [second.key]
    assert [r.key for r in any_ledger.attempts("b", "r_1%@2")] == [first.key, second.key]


def test_copy_adds_what_is_missing_and_nothing_twice(any_ledger: Ledger, tmp_path: Path) -> None:
    source = Ledger(tmp_path / "source.sqlite")
    made = source.intents(rows(5))
    now = time.time()
    source.store.launched(made[0].key, Result("toy:0", None, "SUCCEEDED", "ok", None), now - 99)
    source.store.launched(made[1].key, Result("toy:1", None, "RUNNING", "r", None), now)
    source.keep_specs([(r.key, {"row": r.row_key}, None) for r in made])
    source.prune(now - 10)  # row 0 becomes a tombstone
    any_ledger.intents([Intent("toy", "h4", "b-1", "r4")])  # the team already has row 4
    done = copy_ledger(source.store, any_ledger.store)
    assert done.added == {"launches": 3, "pruned": 1, "specs": 5}
    again = copy_ledger(source.store, any_ledger.store)
    assert again.added == {"launches": 0, "pruned": 0, "specs": 0}
    assert again.skipped == sum(again.found.values())
    counts = any_ledger.store.counts()
    assert (counts["launches"], counts["launched"], counts["pruned"]) == (4, 1, 1)
    assert any_ledger.by_ref("toy:1").created_at == made[1].created_at  # type: ignore[union-attr]
    (back,) = any_ledger.intents(rows(1))  # the tombstone works in the copy too
    assert back.ref == "toy:0"


def test_observe_never_moves_a_terminal_run_back(any_ledger: Ledger) -> None:
    """A late poll or event (any process) cannot undo a run's end (docs/events.md)."""
    (row,) = any_ledger.intents(rows(1))
    store, now = any_ledger.store, time.time()
    store.launched(row.key, Result("toy:1", None, "RUNNING", "running", None), now)
    store.observe([("toy:1", "SUCCEEDED", "done")], now + 1)
    store.observe([("toy:1", "RUNNING", "running")], now + 2)  # late: ignored
    store.observe([("toy:1", "FAILED", "failed")], now + 3)  # terminal is final
    after = any_ledger.by_ref("toy:1")
    assert after is not None
    assert (after.state, after.native) == ("SUCCEEDED", "done")


def test_group_notes_are_kept_per_row(any_ledger: Ledger) -> None:
    first = any_ledger.intents(rows(3))
    keys = [r.key for r in first[:2]]
    any_ledger.grouped(keys, "cb1:p:k")
    assert [any_ledger.get(k).launch_group for k in keys] == ["cb1:p:k"] * 2  # type: ignore[union-attr]
    assert any_ledger.get(first[2].key).launch_group is None  # type: ignore[union-attr]
    any_ledger.grouped(keys[:1], "cb1:p:k:batch")
    assert [r.launch_group for r in any_ledger.batch("b-1")] == ["cb1:p:k:batch", "cb1:p:k", None]
