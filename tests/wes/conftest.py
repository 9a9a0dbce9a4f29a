"""Fixtures for the WES backend: real servers (one of each per session) and clients.

Tests that take ``server`` run once against each server; ``wes_service`` and
``sapporo`` pin one. The servers start on first use and stop at the end of the
session, cancelling whatever a failed test left running.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runhub.client import Client

from .servers import WesServer, cancel_leftovers, start_sapporo, start_wes_service

#: Every test module starts with ``pytest.importorskip("runhub_wes", reason=NEEDS_PLUGIN)``.
NEEDS_PLUGIN = "runhub-wes is not installed (pip install -e plugins/wes)"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "wes"
WORKFLOWS = Path(__file__).resolve().parent / "workflows"


@pytest.fixture(scope="session")
def wes_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WesServer]:
    server = start_wes_service(tmp_path_factory.mktemp("wes-service"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def sapporo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WesServer]:
    server = start_sapporo(tmp_path_factory.mktemp("sapporo"))
    yield server
    cancel_leftovers(server)
    server.stop()


@pytest.fixture(params=["wes-service", "sapporo"])
def server(request: pytest.FixtureRequest) -> WesServer:
    """Each real server in turn."""
    name = "wes_service" if request.param == "wes-service" else "sapporo"
    found: WesServer = request.getfixturevalue(name)
    return found


@pytest.fixture
def client(server: WesServer) -> Iterator[Client]:
    with Client(settings={"wes": server.settings()}) as client:
        yield client


@pytest.fixture(autouse=True)
def _no_wes_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No WES settings from the developer's environment; a private runhub home."""
    for name in (
        "RUNHUB_WES_URL",
        "WES_URL",
        "RUNHUB_WES_TOKEN",
        "WES_TOKEN",
        "RUNHUB_WES_USERNAME",
        "WES_USERNAME",
        "RUNHUB_WES_PASSWORD",
        "WES_PASSWORD",
        "RUNHUB_WES_ENGINE",
        "RUNHUB_WES_PAGE_SIZE",
        "RUNHUB_PROFILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RUNHUB_CONFIG", str(tmp_path / "config.toml"))


def workflow(name: str) -> str:
    """A test workflow as a ``file:`` URI: a local file, attached to the launch."""
    return (WORKFLOWS / name).as_uri()
