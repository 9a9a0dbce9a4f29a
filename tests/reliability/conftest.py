"""Fixtures for the reliability and security suite: isolation from the developer's
settings, and hypothesis's ``ci`` profile (modest example counts)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

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


FAULT_MODULE = "test_faults.py"
#: (platform, entry point): AsyncClient.launch_many, or the ``runhub batch`` command.
SCENARIOS = [(p, how) for how in ("library", "cli") for p in ("ica", "codeocean")]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The fault tests last: their scenario runs in the background meanwhile."""
    items.sort(key=lambda item: item.path.name == FAULT_MODULE)


@pytest.fixture(scope="session", autouse=True)
def fault_scenarios(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], dict[str, Any]]]:
    """Start ``fault_scenario.py`` per platform and entry point when the session starts
    (if any fault test was collected); ``results("ica-cli")`` waits for one's results."""
    wanted = any(item.path.name == FAULT_MODULE for item in request.session.items)
    procs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    if wanted:
        from test_faults import N

        out = tmp_path_factory.mktemp("fault-scenarios")
        script = Path(__file__).parent / "fault_scenario.py"
        for seed, (name, how) in enumerate(SCENARIOS, start=1):
            key = f"{name}-{how}"
            target = out / f"{key}.json"
            log = (out / f"{key}.log").open("wb")
            proc = subprocess.Popen(
                [sys.executable, str(script), name, str(seed), str(N), str(target), how],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            procs[key] = (proc, target)

    def results(key: str) -> dict[str, Any]:
        proc, target = procs[key]
        code = proc.wait(timeout=600)
        assert code == 0, target.with_suffix(".log").read_text()[-3000:]
        data: dict[str, Any] = json.loads(target.read_text())
        return data

    yield results
    for proc, _ in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()
