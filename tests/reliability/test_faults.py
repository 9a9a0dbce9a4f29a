"""20% of requests faulted, N runs launched: exactly N created, none lost, none twice.

Both emulators are served over HTTP on 127.0.0.1 with a FaultPlan drawing from every
fault kind (429 with and without Retry-After, 502, 503, 504, connection dropped
before or after the request reached the app, answers slower than the read timeout,
truncated JSON). Runs are launched with ``AsyncClient.launch_many`` and a ledger, and with
``runhub batch`` (a samplesheet of N rows, in a subprocess, default settings);
rows that raised AmbiguousLaunch/TransportError are launched again with the same
batch and row keys (the same command, for the CLI), as a user re-running the batch
would. Then every run is watched to its end under the same faults (``--wait``).

"Exactly N" means, counted on the emulator: N runs created, N distinct refs
returned, each ref one of the created runs, each ledger row mapped to one run, and
each run's final state as the emulator holds it (every tenth row is scripted to fail).

The scenario (``fault_scenario.py``) runs in its own process per platform and way, started
with the session by conftest.py; these tests run last and read its results.
"""

from __future__ import annotations

from typing import Any

import pytest
from platforms import PLATFORMS

from runhub.testing.emulator import FAULT_KINDS

N = 200


WAYS = ["library", "cli"]


@pytest.mark.parametrize("how", WAYS)
@pytest.mark.parametrize("name", PLATFORMS)
def test_exactly_n_runs_under_faults(name: str, how: str, fault_scenarios: Any) -> None:
    got = fault_scenarios(f"{name}-{how}")
    # every fault kind was injected
    assert set(got["faults"]) == set(FAULT_KINDS), got["faults"]
    if how == "library":
        assert got["sent"] > N
    else:  # re-running the same command until it exits 0
        assert got["codes"][-1] == 0
    # counted on the emulator: N runs, none twice
    assert len(got["created"]) == N
    assert len(set(got["created"])) == N
    # every row returned a ref, each a different run the emulator really created
    assert len(got["ref_ids"]) == N
    assert set(got["ref_ids"]) == set(got["created"])
    # the ledger maps each row to exactly one of those runs
    refs = got["ledger_refs"]
    assert len(refs) == N
    assert None not in refs
    assert len(set(refs)) == N


@pytest.mark.parametrize("how", WAYS)
@pytest.mark.parametrize("name", PLATFORMS)
def test_watch_under_faults_ends_in_true_states(name: str, how: str, fault_scenarios: Any) -> None:
    got = fault_scenarios(f"{name}-{how}")
    final = got["final"]
    assert len(final) == N
    assert {ref: pair for ref, pair in final.items() if pair[0] != pair[1]} == {}
    assert {ref: pair[0] for ref, pair in final.items()} == got["expected"]
    if how == "cli":  # `runhub batch --wait` exits 1 when any run failed (every tenth)
        assert got["wait_code"] == 1
