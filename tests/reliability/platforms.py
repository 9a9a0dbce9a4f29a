"""The two platforms under test, served over HTTP on 127.0.0.1 behind a fault layer.

Shared by the reliability tests and ``bench/faults.py``. Faults are injected by
``runhub.testing.emulator.EmulatorServer`` + ``FaultPlan``: they act at the HTTP
layer in front of the emulator app (after the request has crossed a real socket),
which is all a separate proxy would add, minus one more hop to keep alive.

Each row's spec differs (a sample number in its parameters), as a samplesheet's
rows do: Code Ocean takes no idempotency key, so after a dropped launch it can only
find its run by what the run was asked to do (see ``runhub_codeocean.recovery``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rows import POLICY, POLL, RETRYABLE, SLOW, spec_for
from runhub_codeocean.backend import CodeOceanBackend
from runhub_codeocean.emulator import CodeOceanEmulator
from runhub_codeocean.states import map_state
from runhub_ica.backend import IcaBackend
from runhub_ica.emulator import IcaEmulator, seed

from runhub.aio import AsyncClient
from runhub.backend import RunRef
from runhub.errors import RunhubError
from runhub.ledger import Ledger
from runhub.local.backend import LocalBackend
from runhub.plugins import BackendInfo, Registry
from runhub.spec import RunSpec
from runhub.state import RunState, RunStatus
from runhub.testing.emulator import FAULT_KINDS, Clock, EmulatorServer, FaultPlan

#: Distinctive fake credentials: the secret scan looks for exactly these.
ICA_KEY = "ICAKEY-fake-7c1f09d2b4e84a5f"
CO_TOKEN = "COTOKEN-fake-3e9a6b10c2d74f88"
PLATFORMS = ("ica", "codeocean")
CREATION_BATCH_SIZE = 1


def registry() -> Registry:
    """The backends under test, without entry-point discovery."""
    return Registry(
        backends={
            "ica": BackendInfo(IcaBackend, "runhub_ica", None, None),
            "codeocean": BackendInfo(CodeOceanBackend, "runhub_codeocean", None, None),
            "local": BackendInfo(LocalBackend, "runhub", None, None),
        }
    )


def fault_plan(rate: float, seed_: int, kinds: Sequence[str] = FAULT_KINDS) -> FaultPlan:
    """Faults of every kind (or ``kinds``) on ``rate`` of all requests."""
    return FaultPlan(rate, kinds, seed=seed_, slow_seconds=SLOW, retry_after=0.02)


@dataclass
class Platform:
    """One emulator app served over HTTP, and how a client reaches it."""

    name: str
    app: Any
    server: EmulatorServer
    clock: Clock
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def faults(self) -> FaultPlan:
        return self.server.faults

    def created_ids(self) -> list[str]:
        """Every run the platform created, counted on the platform side."""
        if self.name == "ica":
            return [a.id for a in self.app.analyses]
        return list(self.app.created)

    def run_id(self, ref: RunRef) -> str:
        """The platform's own id in a runhub ref."""
        return ref.id.rpartition("/")[2] if self.name == "ica" else ref.id

    def true_state(self, run_id: str) -> RunState:
        """The final state the emulator itself holds for a run."""
        if self.name == "ica":
            rec = self.app.world.analyses[run_id]
            native = self.app.world.status_at(rec, self.clock.now())[0]
            return IcaBackend.states.get(native, RunState.UNKNOWN)
        body = self.app.runs[run_id].to_json(self.clock.now())
        return map_state(body["state"], body.get("end_status"), body.get("exit_code"))

    def spec(self, row: int, *, fail: bool = False) -> RunSpec:
        """Row ``row``'s run; ``fail`` scripts the run to end FAILED."""
        return spec_for(self.name, row, fail=fail)

    def env(self) -> dict[str, str]:
        """The environment variables a user of this platform sets."""
        values = self.settings[self.name]
        if self.name == "ica":
            return {
                "ICAV2_SERVER_URL": values["server_url"],
                "ICAV2_X_API_KEY": values["x_api_key"],
                "ICAV2_PROJECT_ID": values["project_id"],
                "RUNHUB_ICA_CREATION_BATCH_SIZE": str(values["creation_batch_size"]),
            }
        return {"CODEOCEAN_URL": values["url"], "CODEOCEAN_API_TOKEN": values["api_token"]}

    def created_by(self, request: Any, response: Any) -> list[str]:
        """The runs a create request made or will make (a creation batch's, once
        its items are processed), by their platform ids: call it at the end."""
        ident = str(response.json()["id"])
        if self.name == "ica" and request.url.path.endswith("/analysisCreationBatch"):
            batch = self.app.batches.batches[ident]
            return [item.analysis.id for item in batch.items if item.analysis is not None]
        return [ident]

    def is_create(self, request: Any) -> bool:
        """True for the request that creates a run."""
        path = request.url.path
        if request.method != "POST":
            return False
        if self.name == "ica":
            return path.endswith(("/analysis:nextflow", "/analysis:cwl", "/analysisCreationBatch"))
        return path.rstrip("/").endswith("/api/v1/computations")


@contextmanager
def serve(
    name: str,
    faults: FaultPlan | None = None,
    *,
    speed: float = 20.0,
    creation_batch_size: int | None = None,
) -> Iterator[Platform]:
    """Serve platform ``name`` over HTTP with ``faults``; runs take ~8/speed s.
    ICA clients send creation batches of ``creation_batch_size`` rows (default 1)."""
    clock = Clock(speed)
    app: Any
    if name == "ica":
        app = IcaEmulator(clock, api_keys={ICA_KEY})
    else:
        app = CodeOceanEmulator(token=CO_TOKEN, clock=clock)
    with EmulatorServer(app, faults=faults or FaultPlan()) as server:
        if name == "ica":
            ica = {"server_url": server.url, "x_api_key": ICA_KEY, "project_id": seed.PROJECT_ID}
            # Creation batches of 1 row: as many requests (and faults, and moments to
            # be killed at) as the tests need, on the batch path ICA batches take.
            ica["creation_batch_size"] = creation_batch_size or CREATION_BATCH_SIZE
            settings = {"ica": ica}
        else:
            settings = {"codeocean": {"url": server.url, "api_token": CO_TOKEN}}
        yield Platform(name, app, server, clock, settings)


def client(platform: Platform, ledger: Ledger | None, **kwargs: Any) -> AsyncClient:
    """An AsyncClient for ``platform`` (no connection pooling limits worth noting)."""
    return AsyncClient(
        settings=platform.settings,
        policy=kwargs.pop("policy", POLICY),
        plugins=registry(),
        ledger=ledger,
        **kwargs,
    )


@dataclass
class BatchOutcome:
    """What launching a batch took and produced."""

    statuses: list[RunStatus]
    passes: int
    raised: dict[str, int]
    sent: int
    throttled: int


async def launch_batch(
    platform: Platform,
    specs: Sequence[RunSpec],
    ledger_path: Path,
    *,
    batch: str = "reliability",
    concurrency: int = 16,
    max_passes: int = 10,
    creation_batch: bool = True,
) -> BatchOutcome:
    """Launch ``specs`` as one batch, re-running the rows that raised AmbiguousLaunch
    or TransportError with the same batch and row keys, as a user re-running the
    batch would, until every row has a run (or ``max_passes`` runs out)."""
    rows = [f"row-{i}" for i in range(len(specs))]
    done: dict[int, RunStatus] = {}
    raised: dict[str, int] = {}
    sent = throttled = passes = 0
    while len(done) < len(specs) and passes < max_passes:
        passes += 1
        todo = [i for i in range(len(specs)) if i not in done]
        async with client(platform, Ledger(ledger_path)) as c:
            results = await c.launch_many(
                [specs[i] for i in todo],
                concurrency=concurrency,
                batch=batch,
                row_keys=[rows[i] for i in todo],
                return_exceptions=True,
                creation_batch=creation_batch,
            )
            driver = c.driver(c.backend(platform.name))
            sent += getattr(driver, "sent", 0)
            throttled += getattr(getattr(driver, "pacer", None), "throttled", 0)
        for index, result in zip(todo, results, strict=True):
            if isinstance(result, RunStatus):
                done[index] = result
            else:
                raised[type(result).__name__] = raised.get(type(result).__name__, 0) + 1
                if not isinstance(result, RETRYABLE):
                    raise result
    return BatchOutcome([done[i] for i in sorted(done)], passes, raised, sent, throttled)


async def watch_all(
    platform: Platform, refs: Sequence[RunRef], ledger_path: Path, timeout: float = 60.0
) -> dict[str, RunStatus]:
    """Watch every run to its end; the last status seen per ref."""
    last: dict[str, RunStatus] = {}
    async with client(platform, Ledger(ledger_path)) as c:
        async with asyncio.timeout(timeout):
            async for status in c.watch(refs, poll=POLL):
                last[str(status.ref)] = status
    return last


def raise_unexpected(errors: Sequence[BaseException | RunhubError]) -> None:
    """Fail loudly on anything a re-run would not fix."""
    for error in errors:
        if not isinstance(error, RETRYABLE):
            raise error
