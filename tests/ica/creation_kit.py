"""What the creation-batch tests share: an AsyncClient on the emulator in-process,
row specs, a transport that "crashes" the launcher at a chosen request, and the
checks that every row has exactly its own analysis."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from runhub_ica.emulator import IcaEmulator, seed

from runhub.aio import AsyncClient
from runhub.errors import RunhubError
from runhub.ledger import Ledger, launch_key
from runhub.ledger.claims import this_host
from runhub.spec import RunSpec
from runhub.state import RunStatus
from runhub.testing.emulator import FaultPlan, mock_transport

from .conftest import API_KEY, FAST, REF_TAR, plugins

BATCH = "b-creation-test"
CREATE = "/analysisCreationBatch"


class Crash(Exception):
    """The launcher dies here (raised from the transport)."""


class Crashing(httpx.AsyncBaseTransport):
    """Forwards to the emulator; raises :class:`Crash` at the first request for which
    ``when(request)`` holds, before it reaches the emulator or (``after``) once the
    emulator has answered it."""

    def __init__(
        self,
        app: IcaEmulator,
        when: Callable[[httpx.Request], bool],
        *,
        after: bool = False,
    ) -> None:
        self.inner = mock_transport(app)
        self.when = when
        self.after = after
        self.fired = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        hit = not self.fired and self.when(request)
        if hit and not self.after:
            self.fired = True
            raise Crash(f"killed before {request.method} {request.url.path}")
        response = await self.inner.handle_async_request(request)
        if hit:
            self.fired = True
            await response.aread()
            raise Crash(f"killed after {request.method} {request.url.path}")
        return response


def row_spec(i: int, **fields: Any) -> RunSpec:
    data: dict[str, Any] = {
        "backend": "ica",
        "pipeline": "dragen-germline-4-3-6",
        "name": f"sample {i:03d}",
        "mounts": [
            {"source": "/fastqs/", "input": "fastqs"},
            {"source": REF_TAR, "input": "ref_tar"},
        ],
        "parameters": {"sample_ids": [f"S{i:03d}"]},
    }
    data.update(fields)
    return RunSpec.from_data(data)


def rows(n: int) -> list[str]:
    return [f"row-{i}" for i in range(n)]


def client(
    app: IcaEmulator,
    ledger: Ledger,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    faults: FaultPlan | None = None,
    size: int = 4,
) -> AsyncClient:
    settings = {
        "server_url": "http://127.0.0.1:9",
        "x_api_key": API_KEY,
        "project_id": seed.PROJECT_ID,
        "creation_batch_size": size,
    }
    return AsyncClient(
        settings={"ica": settings},
        transport=transport or mock_transport(app, faults),
        policy=FAST,
        plugins=plugins(),
        ledger=ledger,
    )


def launch(
    app: IcaEmulator,
    ledger: Ledger,
    specs: Sequence[RunSpec],
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    faults: FaultPlan | None = None,
    size: int = 4,
    creation_batch: bool = True,
) -> list[RunStatus | RunhubError]:
    async def go() -> list[RunStatus | RunhubError]:
        async with client(app, ledger, transport=transport, faults=faults, size=size) as c:
            return await c.launch_many(
                specs,
                batch=BATCH,
                row_keys=rows(len(specs)),
                return_exceptions=True,
                creation_batch=creation_batch,
            )

    return asyncio.run(go())


def died(ledger: Ledger) -> None:
    """What the ledger looks like after the launching process was killed: its
    claims are held by a process that no longer exists."""
    with ledger._db() as db:
        db.execute(
            "UPDATE launches SET claim_owner = ? WHERE claim_owner IS NOT NULL",
            (f"{this_host()}/999999999/dead",),
        )


def posts(app: IcaEmulator) -> int:
    return sum(1 for line in app.log if line == f"POST {_path(app)}")


def _path(app: IcaEmulator) -> str:
    return f"/ica/rest/api/projects/{seed.PROJECT_ID}{CREATE}"


def check_exactly_once(app: IcaEmulator, results: Sequence[Any], n: int) -> None:
    """One analysis per row, each row's ref the analysis carrying its own key tag."""
    assert all(isinstance(r, RunStatus) for r in results), results
    tags = Counter(
        t for a in app.analyses for t in a.tags["technicalTags"] if t.startswith("runhub-key:")
    )
    assert len(app.analyses) == n
    assert set(tags.values()) == {1}
    by_id = {a.id: a for a in app.analyses}
    for i, status in enumerate(results):
        analysis = by_id[status.ref.id.rsplit("/", 1)[1]]
        assert f"runhub-key:{launch_key(BATCH, f'row-{i}')}" in analysis.tags["technicalTags"]
        assert analysis.user_reference == f"sample {i:03d}"


def ledger_at(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "ledger.sqlite")
