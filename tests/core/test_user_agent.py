"""Every request carries ``User-Agent: runhub/<version> <backend>/<version>``: the
sync, async and dry-run drivers set it in one place (issue 12, item 14)."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
import pytest
from pydantic import SecretStr

import runhub
from runhub.backend import RunRef, request
from runhub.dryrun import DryRunDriver
from runhub.spec import RunSpec
from runhub.transport import AsyncDriver, SyncDriver, user_agent

from .conftest import SECRET, ToyBackend, ToySettings

MINE = f"runhub/{runhub.__version__}"


class VersionedToy(ToyBackend):
    version: ClassVar[str | None] = "2.5.1"


@pytest.fixture
def versioned() -> VersionedToy:
    return VersionedToy(ToySettings(token=SecretStr(SECRET)))


class Seen:
    def __init__(self) -> None:
        self.agents: list[str | None] = []

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.agents.append(req.headers.get("user-agent"))
        return httpx.Response(200, json={"id": "r1", "state": "running"})


def test_the_agent_names_runhub_and_the_backend(versioned: VersionedToy, toy: ToyBackend) -> None:
    assert user_agent(versioned) == f"{MINE} toy/2.5.1"
    assert user_agent(toy) == MINE  # a backend without a version: only runhub's part


def test_sync_driver_sends_it_on_every_request(versioned: VersionedToy) -> None:
    seen = Seen()
    driver = SyncDriver(httpx.Client(transport=httpx.MockTransport(seen)), versioned)
    driver.run(versioned.launch(RunSpec(pipeline="p"), "k"))
    driver.run(versioned.status(RunRef("toy", "r1")))
    assert seen.agents == [f"{MINE} toy/2.5.1"] * 3


async def test_async_driver_sends_it_on_every_request(versioned: VersionedToy) -> None:
    seen = Seen()
    async with httpx.AsyncClient(transport=httpx.MockTransport(seen)) as http:
        driver = AsyncDriver(http, versioned)
        await driver.run(versioned.launch(RunSpec(pipeline="p"), "k"))
    assert seen.agents == [f"{MINE} toy/2.5.1"] * 2


def test_dry_run_sends_it_and_shows_it(versioned: VersionedToy) -> None:
    seen = Seen()
    driver = DryRunDriver(httpx.Client(transport=httpx.MockTransport(seen)), versioned)
    result = driver.dry_run(versioned.launch(RunSpec(pipeline="p"), "k"))
    assert seen.agents == [f"{MINE} toy/2.5.1"]  # the lookup, sent for real
    assert result.request is not None
    assert result.request.headers["user-agent"] == f"{MINE} toy/2.5.1"  # the launch, shown


def test_a_backends_own_agent_is_kept(versioned: VersionedToy) -> None:
    seen = Seen()
    driver = SyncDriver(httpx.Client(transport=httpx.MockTransport(seen)), versioned)

    def op() -> Any:
        yield request("GET", "https://toy.example/x", headers={"User-Agent": "custom/1"})

    driver.run(op())
    assert seen.agents == ["custom/1"]
