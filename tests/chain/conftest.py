"""Chains through the library: a private runhub home, no profile, pipelines made here."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RUNHUB_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.setenv("RUNHUB_LOCAL_CANCEL_GRACE", "0.5")
    for name in ("RUNHUB_PROFILE", "RUNHUB_CHAIN_POLL_INTERVAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def pipeline(tmp_path: Path) -> Callable[[str, str], str]:
    """``pipeline(name, shell script)``: a local pipeline folder; its path."""

    def make(name: str, script: str) -> str:
        folder = tmp_path / name
        folder.mkdir(exist_ok=True)
        run_file = folder / "run"
        run_file.write_text("#!/bin/sh\n" + script)
        run_file.chmod(run_file.stat().st_mode | stat.S_IXUSR)
        return str(folder)

    return make


@pytest.fixture
def runs(tmp_path: Path) -> Callable[[], int]:
    """``runs()``: how many local runs were started (the local backend's own record)."""

    def count() -> int:
        folder = tmp_path / "home" / "runs"
        return len(list(folder.iterdir())) if folder.is_dir() else 0

    return count
