"""Fixtures for the whole suite."""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(autouse=True)
def _own_runhub_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Clients record launches in the default ledger (RUNHUB_HOME): each test gets
    a home of its own, never the developer's."""
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path / "runhub-home"))
    # A developer's team ledger (RUNHUB_LEDGER) must never receive test launches.
    monkeypatch.delenv("RUNHUB_LEDGER", raising=False)


@pytest.fixture(autouse=True)
def _restore_runhub_logger() -> Iterator[None]:
    """The CLI configures the ``runhub`` logger for a process; undo it after each
    test so later tests' ``caplog`` sees every record again."""
    logger = logging.getLogger("runhub")
    saved = (logger.level, logger.propagate, list(logger.handlers))
    yield
    logger.setLevel(saved[0])
    logger.propagate = saved[1]
    logger.handlers[:] = saved[2]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """A real PostgreSQL server on 127.0.0.1 for this test session (a temporary
    cluster; see runhub/testing/pgserver.py). Skipped when no server binaries or
    no psycopg are installed, unless CI=true: CI installs both (.ci/run), so a
    missing server there is a failure, never a silent skip."""
    from runhub.testing.pgserver import TempPostgres, missing

    why = missing()
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {why}", pytrace=False)
        pytest.skip(why)
    with TempPostgres.start() as server:
        yield server


@pytest.fixture
def pg_url(postgres_server: Any, request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL server; its URL."""
    name = "t_" + re.sub(r"[^a-z0-9]+", "_", request.node.name.lower())[:40]
    name = f"{name}_{uuid.uuid4().hex[:8]}"
    url: str = postgres_server.create_database(name)
    yield url
    postgres_server.drop_database(name)
