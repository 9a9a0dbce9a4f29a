"""Fixtures for the ICA backend: an emulator, a client wired to it, specs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runhub_ica.auth import TOKENS
from runhub_ica.backend import IcaBackend
from runhub_ica.emulator import IcaEmulator, seed

from runhub.client import Client
from runhub.plugins import BackendInfo, Registry
from runhub.policy import RetryPolicy
from runhub.spec import RunSpec
from runhub.testing.emulator import Clock, EmulatorApp, FaultPlan, mock_transport

URL = "http://127.0.0.1:9"  # in-process: never dialled
API_KEY = "ica-test-key-5d1e9b7c3a"
#: Retries without real waiting (Retry-After capped to 10 ms).
FAST = RetryPolicy(
    attempts=4, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0, max_retry_after=0.01
)
ENV_VARS = ("ICAV2_SERVER_URL", "ICAV2_X_API_KEY", "ICAV2_ACCESS_TOKEN", "ICAV2_PROJECT_ID")
SPECS = Path(__file__).parent / "specs"
SHARED_SPEC = Path(__file__).resolve().parents[3] / "shared" / "specs" / "ica-v2-openapi.yaml"

DRAGEN = "dragen-germline-4-3-6"
FASTQC = "fastqc-0-12"
RNASEQ = "nf-core-rnaseq-3-14-0"
BWA = "bwa-mem-cwl-0-7-17"
REF_TAR = "/reference/hg38-alt_masked.cnv.graph.hla.rna-9-r3.0-1.tar"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings leak in from the developer's environment or profile file, and no
    JWT from an earlier test's emulator (each emulator is its own ICA)."""
    TOKENS.clear()
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNHUB_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path / "home"))


def plugins() -> Registry:
    """A registry holding only the ICA backend."""
    return Registry(backends={"ica": BackendInfo(IcaBackend, "runhub_ica", None, None)})


def make_client(
    app: EmulatorApp,
    faults: FaultPlan | None = None,
    *,
    url: str = URL,
    **settings: Any,
) -> Client:
    """A Client whose ICA backend talks to ``app`` in-process."""
    values = {"server_url": url, "x_api_key": API_KEY, "project_id": seed.PROJECT_ID, **settings}
    return Client(
        settings={"ica": values},
        transport=mock_transport(app, faults),
        policy=FAST,
        plugins=plugins(),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(speed=1.0)


@pytest.fixture
def app(clock: Clock) -> IcaEmulator:
    return IcaEmulator(clock)


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def client(app: IcaEmulator, faults: FaultPlan) -> Iterator[Client]:
    with make_client(app, faults) as c:
        yield c


def spec(**fields: Any) -> RunSpec:
    """A spec for the ICA backend; DRAGEN on the seeded FASTQ folder unless overridden."""
    data: dict[str, Any] = {
        "backend": "ica",
        "pipeline": DRAGEN,
        "name": "SampleA germline",
        "mounts": [
            {"source": "/fastqs/", "input": "fastqs"},
            {"source": REF_TAR, "input": "ref_tar"},
        ],
        "parameters": {"enable_cnv": True, "sample_ids": ["SampleA"], "threads": 16},
    }
    data.update(fields)
    return RunSpec.from_data(data)


def created_bodies(app: IcaEmulator) -> int:
    """How many create POSTs the emulator handled."""
    return sum(
        1
        for line in app.log
        if line.startswith("POST") and "/analysis:" in line and not line.endswith("analysis:search")
    )
