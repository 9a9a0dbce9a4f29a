"""Fixtures for the reliability and security suite: isolation from the developer's
settings, and hypothesis's ``ci`` profile (modest example counts)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

sys.path.insert(0, str(Path(__file__).parent))  # platforms.py, shared with bench/faults.py

settings.register_profile(
    "ci", max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ENV_VARS = (
    "ICAV2_SERVER_URL",
    "ICAV2_X_API_KEY",
    "ICAV2_ACCESS_TOKEN",
    "ICAV2_PROJECT_ID",
    "CODEOCEAN_URL",
    "CODEOCEAN_API_TOKEN",
    "API_TOKEN",
    "CODEOCEAN_MIN_SERVER_VERSION",
    "CODEOCEAN_AGENT_ID",
    "RUNHUB_PROFILE",
    "RUNHUB_LOG",
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings leak in from the developer's environment or profile file."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNHUB_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path / "home"))
