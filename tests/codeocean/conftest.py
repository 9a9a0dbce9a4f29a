"""Fixtures for the Code Ocean backend: an emulator, a client wired to it, specs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from runhub_codeocean.backend import CodeOceanBackend
from runhub_codeocean.emulator import (
    ART_CAPSULE,
    DEFAULT_TOKEN,
    FASTQ_ASSET,
    PIPELINE,
    QC_CAPSULE,
    REFERENCE_ASSET,
    CodeOceanEmulator,
)

from runhub.client import Client
from runhub.plugins import BackendInfo, Registry
from runhub.policy import RetryPolicy
from runhub.spec import RunSpec
from runhub.testing.emulator import Clock, EmulatorServer, FaultPlan, mock_transport

URL = "http://127.0.0.1:9"  # in-process: never dialled
#: Retries without real waiting (Retry-After capped to 10 ms).
FAST = RetryPolicy(
    attempts=4, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0, max_retry_after=0.01
)
ENV_VARS = (
    "CODEOCEAN_URL",
    "CODEOCEAN_API_TOKEN",
    "API_TOKEN",
    "CODEOCEAN_MIN_SERVER_VERSION",
    "CODEOCEAN_AGENT_ID",
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No settings leak in from the developer's environment or profile file."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNHUB_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path / "home"))


#: Code Ocean's listing is trusted 5 s after a lost answer; these in-process tests
#: use less so that each ambiguous launch costs a fraction of a second.
SETTLE = 0.3


@pytest.fixture(autouse=True)
def _quick_settle(monkeypatch: pytest.MonkeyPatch) -> None:
    quick = CodeOceanBackend.capabilities.model_copy(update={"launch_settle": SETTLE})
    monkeypatch.setattr(CodeOceanBackend, "capabilities", quick)


def plugins() -> Registry:
    """A registry holding only the Code Ocean backend."""
    return Registry(
        backends={"codeocean": BackendInfo(CodeOceanBackend, "runhub_codeocean", None, None)}
    )


def make_client(
    app: CodeOceanEmulator,
    faults: FaultPlan | None = None,
    *,
    url: str = URL,
    token: str = DEFAULT_TOKEN,
    **settings: Any,
) -> Client:
    """A Client whose Code Ocean backend talks to ``app`` in-process."""
    return Client(
        settings={"codeocean": {"url": url, "api_token": token, **settings}},
        transport=mock_transport(app, faults),
        policy=FAST,
        plugins=plugins(),
    )


@pytest.fixture
def app() -> CodeOceanEmulator:
    return CodeOceanEmulator(clock=Clock(speed=0.0))  # time moves only by advance()


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def client(app: CodeOceanEmulator, faults: FaultPlan) -> Iterator[Client]:
    with make_client(app, faults) as c:
        yield c


@pytest.fixture
def backend(client: Client) -> CodeOceanBackend:
    chosen = client.backend("codeocean")
    assert isinstance(chosen, CodeOceanBackend)
    return chosen


@pytest.fixture
def server(app: CodeOceanEmulator) -> Iterator[EmulatorServer]:
    with EmulatorServer(app) as srv:
        yield srv


def spec(pipeline: str = ART_CAPSULE, **fields: Any) -> RunSpec:
    """A Code Ocean spec (``backend: codeocean``) from keyword fields."""
    return RunSpec.from_data({"pipeline": pipeline, "backend": "codeocean", **fields})


def pipeline_spec(**fields: Any) -> RunSpec:
    """A spec for the seeded pipeline."""
    options = {"codeocean": {"kind": "pipeline", **fields.pop("co", {})}}
    return spec(PIPELINE, options=options, **fields)


def sent_bodies(app: CodeOceanEmulator) -> list[dict[str, Any]]:
    """The run request bodies the emulator accepted."""
    return app.run_bodies


def finish(app: CodeOceanEmulator) -> None:
    """Move emulated time past any normal run's end."""
    app.clock.advance(60)


_IDS = re.compile(r"(computations|capsules|pipelines)/[^/]+")


def route(request: Any) -> str:
    """A request path with ids wildcarded (``/api/v1/computations/*/results``)."""
    return _IDS.sub(r"\1/*", request.path)


def _match_route(r1: Any, r2: Any) -> None:
    assert route(r1) == route(r2), f"{route(r1)} != {route(r2)}"


def pytest_recording_configure(config: Any, vcr: Any) -> None:
    """vcrpy matcher ``codeocean_route``: same route shape; hosts, ports and ids may differ
    (cassettes recorded against the emulator or a real deployment replay alike)."""
    vcr.register_matcher("codeocean_route", _match_route)


class Recorder:
    """Wraps an app and keeps every request it answers (headers and body)."""

    def __init__(self, app: CodeOceanEmulator) -> None:
        self.app = app
        self.seen: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.app.handle(request)


__all__ = [
    "ART_CAPSULE",
    "FASTQ_ASSET",
    "PIPELINE",
    "QC_CAPSULE",
    "REFERENCE_ASSET",
    "Recorder",
    "make_client",
    "pipeline_spec",
    "spec",
]
