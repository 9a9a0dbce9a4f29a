"""The runhub conformance suite, run against the ICA emulator in-process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest
from runhub_ica.emulator import IcaEmulator, seed

from runhub.client import Client
from runhub.spec import RunSpec
from runhub.testing.conformance import BackendConformance
from runhub.testing.emulator import Clock

from .conftest import FASTQC, make_client

_APPS: dict[int, IcaEmulator] = {}


class TestIcaConformance(BackendConformance):
    backend_name: ClassVar[str] = "ica"

    @pytest.fixture
    def client(self) -> Iterator[Client]:
        app = IcaEmulator(Clock(speed=0.0))
        with make_client(app) as client:
            _APPS[id(client)] = app
            yield client
            del _APPS[id(client)]

    def make_spec(self, kind: str) -> RunSpec:
        mode = {"succeed": "standard", "fail": seed.FAIL_VALUE, "slow": seed.SLOW_VALUE}[kind]
        return RunSpec.from_data(
            {
                "pipeline": FASTQC,
                "name": f"conformance-{kind}",
                "mounts": [{"source": "/fastqs/"}],
                "parameters": {"mode": mode, "threads": 2},
            }
        )

    def invalid_spec(self) -> RunSpec:
        # Ordered parameters: the model accepts them, ICA takes named parameters only.
        return RunSpec.from_data({"pipeline": FASTQC, "parameters": ["75", "1"]})

    def advance(self, client: Client, seconds: float) -> None:
        _APPS[id(client)].clock.advance(seconds)

    def run_count(self, client: Client) -> int | None:
        return len(_APPS[id(client)].analyses)
