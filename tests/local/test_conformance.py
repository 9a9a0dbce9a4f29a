"""The local backend passes the conformance suite every backend must pass."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runhub.client import Client
from runhub.spec import RunSpec
from runhub.testing import BackendConformance


class TestLocalConformance(BackendConformance):
    backend_name = "local"

    @pytest.fixture
    def client(
        self, home: Path, tmp_path: Path, make_pipeline: Callable[..., Path]
    ) -> Iterator[Client]:
        self.home = home
        self.pipeline = make_pipeline(tmp_path / "pipeline")
        with Client(settings={"local": {"home": str(home), "cancel_grace": 0.5}}) as client:
            yield client

    def make_spec(self, kind: str) -> RunSpec:
        parameters = {"succeed": {}, "fail": {"exit": 2}, "slow": {"sleep": 60}}[kind]
        return RunSpec(pipeline=str(self.pipeline), parameters=parameters)

    def invalid_spec(self) -> RunSpec:
        return RunSpec(pipeline=str(self.pipeline / "no-such-dir"))

    def run_count(self, client: Client) -> int:
        runs = self.home / "runs"
        return len(list(runs.iterdir())) if runs.exists() else 0
