"""An interrupted launch the platform may still be creating is looked for again,
after the backend's ``launch_settle``, before it is sent anew."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from runhub.backend import Capabilities, RunRef
from runhub.client import AsyncClient, Client
from runhub.ledger import Ledger
from runhub.plugins import BackendInfo, Registry
from runhub.spec import RunSpec
from runhub.state import RunState, RunStatus

from .conftest import ToyBackend

SETTLE = 0.3
SPEC = RunSpec(pipeline="p1", backend="toy")


class LateToy(ToyBackend):
    """A platform without launch keys whose in-flight run becomes visible after a
    while: ``recover`` sees nothing until ``appears_at``."""

    capabilities = Capabilities(batch_status=False, launch_settle=SETTLE)
    appears_at: ClassVar[float] = 0.0
    recovered: ClassVar[list[float]] = []
    launched: ClassVar[int] = 0

    def recover(
        self, spec: RunSpec, key: str, *, since: float, claimed: frozenset[str] = frozenset()
    ) -> Any:
        LateToy.recovered.append(time.time())
        if time.time() >= LateToy.appears_at:
            return RunStatus(RunRef("toy", "late-1"), RunState.QUEUED, "queued")
        return None

    def launch(self, spec: RunSpec, key: str, *, batch: str | None = None) -> Any:
        LateToy.launched += 1
        return (yield from super().launch(spec, key, batch=batch))


def answer(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"id": "new-1", "state": "running"})


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    """A ledger whose row r1 was attempted just now, with no answer recorded."""
    ledger = Ledger(tmp_path / "ledger.sqlite")
    record = ledger.intent("toy", SPEC.digest(), batch="b", row_key="r1")
    ledger.attempt(record.key)
    LateToy.recovered, LateToy.launched = [], 0
    return ledger


def plugins() -> Registry:
    return Registry(backends={"toy": BackendInfo(LateToy, "tests", None, None)})


def client(ledger: Ledger) -> Client:
    return Client(plugins=plugins(), ledger=ledger, transport=httpx.MockTransport(answer))


def test_a_run_that_appears_within_the_settle_time_is_adopted(ledger: Ledger) -> None:
    LateToy.appears_at = time.time() + SETTLE / 2
    with client(ledger) as c:
        status = c.launch(SPEC, batch="b", row_key="r1")
    assert status.ref.id == "late-1"
    assert LateToy.launched == 0
    assert len(LateToy.recovered) == 2  # looked, waited out the settle time, looked again


def test_a_run_still_missing_after_the_settle_time_is_launched_once(ledger: Ledger) -> None:
    LateToy.appears_at = float("inf")
    with client(ledger) as c:
        status = c.launch(SPEC, batch="b", row_key="r1")
    assert status.ref.id == "new-1"
    assert LateToy.launched == 1
    attempted = next(r.attempted_at for r in ledger.runs(limit=0))
    assert attempted is not None
    assert LateToy.recovered[-1] >= attempted + SETTLE  # looked again only once settled


async def test_launch_many_waits_too(ledger: Ledger) -> None:
    LateToy.appears_at = time.time() + SETTLE / 2
    async with AsyncClient(
        plugins=plugins(), ledger=ledger, transport=httpx.MockTransport(answer)
    ) as c:
        done = await c.launch_many([SPEC], batch="b", row_keys=["r1"])
    assert [s.ref.id for s in done] == ["late-1"]
    assert LateToy.launched == 0


def test_an_old_attempt_is_not_waited_for(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "ledger.sqlite")
    record = ledger.intent("toy", SPEC.digest(), batch="b", row_key="r1")
    ledger.attempt(record.key)
    time.sleep(SETTLE)  # the attempt is now older than the settle time
    LateToy.recovered, LateToy.launched, LateToy.appears_at = [], 0, float("inf")
    with client(ledger) as c:
        assert c.launch(SPEC, batch="b", row_key="r1").ref.id == "new-1"
    assert len(LateToy.recovered) == 1
