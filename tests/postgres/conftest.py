"""Fixtures for the PostgreSQL ledger's tests: a ledger on each store.

The server is the session's real PostgreSQL (``postgres_server``/``pg_url`` in
tests/conftest.py); each test gets a database of its own.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runhub.ledger import Ledger

sys.path.insert(0, str(Path(__file__).parent))  # pgrelay.py


@pytest.fixture(params=["sqlite", "postgresql"])
def any_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Ledger:
    """A new, empty ledger on each store in turn."""
    if request.param == "postgresql":
        return Ledger(request.getfixturevalue("pg_url"))
    return Ledger(tmp_path / "ledger.sqlite")
