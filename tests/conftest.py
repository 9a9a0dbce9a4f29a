"""Fixtures for the whole suite."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_runhub_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Clients record launches in the default ledger (RUNHUB_HOME): each test gets
    a home of its own, never the developer's."""
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path / "runhub-home"))


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
