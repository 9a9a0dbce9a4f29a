"""20% of requests faulted, N runs launched: exactly N created, none lost, none twice.

Both emulators are served over HTTP on 127.0.0.1 with a FaultPlan drawing from every
fault kind (429 with and without Retry-After, 502, 503, 504, connection dropped
before or after the request reached the app, answers slower than the read timeout,
truncated JSON). Runs are launched with ``AsyncClient.launch_many`` and a ledger;
rows that raised AmbiguousLaunch/TransportError are launched again with the same
batch and row keys, as a user re-running the batch would. Then every run is
watched to its end under the same faults.

"Exactly N" means, counted on the emulator: N runs created, N distinct refs
returned, each ref one of the created runs, each ledger row mapped to one run, and
each run's final state as the emulator holds it (every tenth row is scripted to fail).

The scenarios run in background threads started by one module fixture, so the two
platforms' batches overlap in time (CI has two cores and a few minutes).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from platforms import PLATFORMS, BatchOutcome, fault_plan, launch_batch, serve, watch_all

from runhub.ledger import Ledger
from runhub.state import RunState
from runhub.testing.emulator import FAULT_KINDS

N = 200
RATE = 0.2


@dataclass
class Scenario:
    """Everything one platform's faulted batch produced, for the assertions."""

    platform: str
    outcome: BatchOutcome
    created: list[str]
    ref_ids: list[str]
    final: dict[str, tuple[RunState, RunState]]  # ref -> (watched, emulator's truth)
    expected: dict[str, RunState]  # ref -> the state its row was scripted to end in
    ledger_refs: list[str | None]
    faults: dict[str, int]


def run_scenario(name: str, tmp: Path, seed: int) -> Scenario:
    """Launch N runs on ``name`` with faults, then watch them all to their end."""
    ledger = tmp / f"{name}.sqlite"
    with serve(name, fault_plan(RATE, seed)) as platform:
        specs = [platform.spec(i, fail=i % 10 == 0) for i in range(N)]
        outcome = asyncio.run(launch_batch(platform, specs, ledger, batch=f"faults-{name}"))
        refs = [s.ref for s in outcome.statuses]
        watched = asyncio.run(watch_all(platform, refs, ledger))
        final = {
            ref: (status.state, platform.true_state(platform.run_id(status.ref)))
            for ref, status in watched.items()
        }
        expected = {
            str(s.ref): RunState.FAILED if i % 10 == 0 else RunState.SUCCEEDED
            for i, s in enumerate(outcome.statuses)
        }
        rows = Ledger(ledger).batch(f"faults-{name}")
        return Scenario(
            name,
            outcome,
            platform.created_ids(),
            [platform.run_id(r) for r in refs],
            final,
            expected,
            [row.ref for row in rows],
            dict(platform.faults.counts),
        )


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[Scenario]]]:
    tmp = tmp_path_factory.mktemp("faults")
    with ThreadPoolExecutor(max_workers=len(PLATFORMS)) as pool:
        yield {
            name: pool.submit(run_scenario, name, tmp, seed)
            for seed, name in enumerate(PLATFORMS, start=1)
        }


@pytest.mark.parametrize("name", PLATFORMS)
def test_exactly_n_runs_under_faults(name: str, scenarios: dict[str, Future[Scenario]]) -> None:
    got = scenarios[name].result(timeout=300)
    # every fault kind was injected, on about a fifth of the requests
    assert set(got.faults) == set(FAULT_KINDS), got.faults
    assert got.outcome.sent > N
    # counted on the emulator: N runs, none twice
    assert len(got.created) == N
    assert len(set(got.created)) == N
    # every row returned a ref, each a different run the emulator really created
    assert len(got.ref_ids) == N
    assert set(got.ref_ids) == set(got.created)
    # the ledger maps each row to exactly one of those runs
    assert len(got.ledger_refs) == N
    assert None not in got.ledger_refs
    assert len(set(got.ledger_refs)) == N


@pytest.mark.parametrize("name", PLATFORMS)
def test_watch_under_faults_ends_in_true_states(
    name: str, scenarios: dict[str, Future[Scenario]]
) -> None:
    got = scenarios[name].result(timeout=300)
    assert len(got.final) == N
    wrong = {ref: pair for ref, pair in got.final.items() if pair[0] != pair[1]}
    assert not wrong
    assert {ref: pair[0] for ref, pair in got.final.items()} == got.expected
