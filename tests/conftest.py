"""Fixtures for the whole suite."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


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
