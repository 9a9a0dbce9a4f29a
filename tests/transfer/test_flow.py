"""One flow, driven by the sync and the async runner alike; dry runs of staging."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from runhub_ica.emulator import IcaEmulator

from runhub.client import Client
from runhub.errors import RunhubError
from runhub.spec import RunSpec
from runhub.transfer.flow import Fan, Flow, Sleep, Work, arun, first_error, run

from .conftest import spec_data


def _sample() -> Flow[list[Any]]:
    def one(n: int) -> Flow[int]:
        value: int = yield Work(lambda call: n * 10)
        yield Sleep(0.001)
        if n == 2:
            raise RunhubError("two failed")
        return value

    results = yield Fan([one(n) for n in range(4)], 2)
    return list(results)


def test_the_sync_and_async_runners_agree() -> None:
    def call(backend: Any, op: Any) -> Any:
        raise AssertionError("no backend calls here")

    async def acall(backend: Any, op: Any) -> Any:
        raise AssertionError("no backend calls here")

    sync = run(_sample(), call)
    asynced = asyncio.run(arun(_sample(), acall))
    for got in (sync, asynced):
        assert got[:2] == [0, 10]
        assert got[3] == 30
        assert str(first_error(got)) == "two failed"


def test_a_dry_run_shows_the_upload_then_the_launch(
    client: Client, app: IcaEmulator, write: Callable[..., Path]
) -> None:
    write("r.fq", 3000)
    spec = RunSpec.from_data(spec_data("./r.fq"))
    dry = client.dry_run(spec)
    assert dry.request is not None
    assert dry.request.url.path.endswith("data:createFileWithUploadUrl")
    assert not any(r.path.endswith("/r.fq") for r in app.world.data.values())
    client.launch(spec)
    again = client.dry_run(spec.with_overrides({"name": "s2"}))
    assert again.request is not None
    assert again.request.url.path.endswith("analysis:nextflow")
    assert len(app.created) == 1
