"""A launch interrupted before its answer was recorded is found again, never repeated."""

from __future__ import annotations

from pathlib import Path

import pytest
from runhub_ica.emulator import IcaEmulator, seed

from runhub.client import Client
from runhub.errors import TransportError
from runhub.ledger import Ledger
from runhub.testing.emulator import Clock, FaultPlan, mock_transport

from .conftest import API_KEY, FAST, URL, plugins, spec


def ledger_client(app: IcaEmulator, faults: FaultPlan, ledger: Ledger) -> Client:
    settings = {"server_url": URL, "x_api_key": API_KEY, "project_id": seed.PROJECT_ID}
    return Client(
        settings={"ica": settings},
        transport=mock_transport(app, faults),
        policy=FAST,
        plugins=plugins(),
        ledger=ledger,
    )


def creates(app: IcaEmulator) -> int:
    return sum(1 for line in app.log if line.endswith("/analysis:nextflow"))


def test_relaunch_after_a_lost_answer_adopts_the_run(tmp_path: Path) -> None:
    app = IcaEmulator(Clock(speed=0.0))
    ledger = Ledger(tmp_path / "ledger.sqlite")
    faults = FaultPlan(only=["analysis:nextflow"])
    faults.push(*["drop-after"] * FAST.attempts)  # every try reaches ICA, no answer returns
    with ledger_client(app, faults, ledger) as client, pytest.raises(TransportError):
        client.launch(spec(), batch="plate-1", row_key="A1")
    assert len(app.analyses) == 1  # the retries were replayed, not re-run
    app.forget_idempotency()  # as if ICA's 7-day window had passed
    sent = creates(app)
    with ledger_client(app, FaultPlan(), ledger) as client:
        status = client.launch(spec(), batch="plate-1", row_key="A1")
    assert creates(app) == sent  # recovered by its key tag: no second create
    assert len(app.analyses) == 1
    assert status.ref.id == f"{seed.PROJECT_ID}/{app.analyses[0].id}"
    assert any(line.endswith("/analysis:search") for line in app.log)


def test_recover_ignores_claimed_runs_and_relaunches(client: Client, app: IcaEmulator) -> None:
    backend = client.backend("ica")
    first = client.launch(spec(), key="same-key")
    found = client.driver(backend).run(backend.recover(spec(), "same-key", since=0.0))
    assert found is not None
    assert found.ref == first.ref
    claimed = frozenset({first.ref.id})
    again = client.driver(backend).run(
        backend.recover(spec(), "same-key", since=0.0, claimed=claimed)
    )
    assert again is None
    missing = client.driver(backend).run(backend.recover(spec(), "other-key", since=0.0))
    assert missing is None
