"""The runhub conformance suite, run against the Code Ocean emulator in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest
from runhub_codeocean.emulator import CodeOceanEmulator

from runhub.client import Client
from runhub.spec import RunSpec
from runhub.testing.conformance import BackendConformance
from runhub.testing.emulator import Clock

from .conftest import FASTQ_ASSET, QC_CAPSULE, make_client

_APPS: dict[int, CodeOceanEmulator] = {}


class TestCodeOceanConformance(BackendConformance):
    backend_name: ClassVar[str] = "codeocean"

    @pytest.fixture
    def client(self) -> Iterator[Client]:
        app = CodeOceanEmulator(clock=Clock(speed=0.0))
        with make_client(app) as client:
            _APPS[id(client)] = app
            yield client
            del _APPS[id(client)]

    def make_spec(self, kind: str) -> RunSpec:
        mode = {"succeed": "fast", "fail": "fail", "slow": "slow"}[kind]
        return RunSpec.from_data(
            {
                "pipeline": QC_CAPSULE,
                "name": f"conformance-{kind}",
                "mounts": [{"source": FASTQ_ASSET, "path": "fastqs"}],
                "parameters": {"mode": mode, "threads": 2},
            }
        )

    def invalid_spec(self) -> RunSpec:
        # Per-process parameters on a capsule: the model accepts it, Code Ocean cannot.
        return RunSpec.from_data({"pipeline": QC_CAPSULE, "processes": {"step": ["1"]}})

    def advance(self, client: Client, seconds: float) -> None:
        _APPS[id(client)].clock.advance(seconds)

    def run_count(self, client: Client) -> int | None:
        return len(_APPS[id(client)].created)
