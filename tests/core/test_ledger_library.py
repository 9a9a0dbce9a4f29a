"""Library launches are in the ledger: ``Client``, ``AsyncClient`` and
``runhub.launch`` record every launch in the default ledger (RUNHUB_HOME) unless
``ledger=False``; the ledger file is whole when the program ends; a launch that
never reached the platform leaves no row, one the platform refused an ERROR row."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

import runhub
from runhub.client import AsyncClient, Client
from runhub.errors import ConfigError, PlatformError, SpecError
from runhub.ledger import ERROR, Ledger, default_location
from runhub.plugins import Registry
from runhub.spec import RunSpec

from .conftest import ToyBackend

SPEC = RunSpec(pipeline="p", backend="toy", name="one")
ROOT = Path(__file__).resolve().parents[2]


class Toy(ToyBackend):
    """Refuses to launch without a token, before any request (a settings error)."""

    def launch(self, spec: RunSpec, key: str, *, batch: str | None = None) -> Any:
        if self.settings.url.endswith("/no-settings"):
            raise ConfigError("set TOY_TOKEN")
        return super().launch(spec, key, batch=batch)


def created(request: httpx.Request) -> httpx.Response:
    if request.method == "POST" and request.url.path == "/runs":
        if request.url.host == "refuses.example":
            return httpx.Response(422, json={"detail": "no such pipeline"})
        return httpx.Response(201, json={"id": "r1", "state": "running"})
    return httpx.Response(200, json={"id": "r1", "state": "running"})


def options(**extra: Any) -> dict[str, Any]:
    from runhub.plugins import BackendInfo

    plugins = Registry(backends={"toy": BackendInfo(Toy, "tests", None, None)})
    return {"plugins": plugins, "transport": httpx.MockTransport(created), **extra}


def recorded() -> list[Any]:
    with Ledger() as ledger:
        return ledger.runs(limit=None)


def test_client_launches_are_recorded_in_the_default_ledger() -> None:
    with Client(**options()) as client:
        status = client.launch(SPEC)
    assert [(r.ref, r.name) for r in recorded()] == [(str(status.ref), "one")]
    assert default_location().parent == Path(os.environ["RUNHUB_HOME"])


async def test_async_launch_many_is_recorded_with_its_batch_rows() -> None:
    specs = [SPEC.with_overrides({"name": f"s{i}"}) for i in range(3)]
    async with AsyncClient(**options()) as client:
        await client.launch_many(specs, batch="lib-b", row_keys=["a", "b", "c"])
    rows = Ledger().batch("lib-b")
    assert [r.row_key for r in rows] == ["a", "b", "c"]
    assert all(r.launched for r in rows)


def test_runhub_launch_is_recorded() -> None:
    status = runhub.launch(SPEC, **options())
    assert [r.ref for r in recorded()] == [str(status.ref)]


def test_ledger_false_records_nothing_and_creates_no_file() -> None:
    with Client(**options(ledger=False)) as client:
        client.launch(SPEC)
        client.status("toy:r1")
    assert client.ledger is None
    assert not default_location().exists()


def test_a_status_check_alone_creates_no_ledger() -> None:
    with Client(**options()) as client:
        client.status("toy:r1")
    assert not default_location().exists()


def test_a_launch_that_never_reached_the_platform_leaves_no_row() -> None:
    settings = {"toy": {"url": "https://toy.example/no-settings"}}
    opened = options(settings=settings, ledger=Ledger())
    with Client(**opened) as client, pytest.raises(ConfigError):
        client.launch(SPEC)
    assert recorded() == []


def test_a_launch_the_platform_refused_is_an_error_row_that_prune_removes() -> None:
    import time

    settings = {"toy": {"url": "https://refuses.example"}}
    opened = options(settings=settings, ledger=Ledger())
    with Client(**opened) as client, pytest.raises(PlatformError):
        client.launch(SPEC)
    with Ledger() as ledger:
        (refused,) = ledger.runs(state=ERROR)
        assert (refused.ref, refused.attempted) == (None, True)
        assert ledger.prune(time.time() + 1) == 1
        assert ledger.runs(limit=None) == []


def test_a_key_names_one_launch() -> None:
    with Client(**options()) as client:
        first = client.launch(SPEC, key="mine-1")
        assert client.launch(SPEC, key="mine-1").ref == first.ref  # re-attached
        with pytest.raises(SpecError, match="already used for another launch"):
            client.launch(SPEC.with_overrides({"name": "other"}), key="mine-1")


def test_a_program_that_never_closes_its_client_leaves_a_whole_ledger(tmp_path: Path) -> None:
    """Under gc.freeze() and without close(), the ledger is checkpointed at exit:
    ledger.sqlite alone holds the launch."""
    home = tmp_path / "home"
    program = (
        "import gc, runhub\n"
        "gc.freeze()\n"
        "client = runhub.Client()\n"
        "print(client.launch('examples/hello/runspec.yaml').ref)\n"
    )
    env = {**os.environ, "RUNHUB_HOME": str(home), "RUNHUB_CONFIG": str(tmp_path / "no.toml")}
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    wal = home / "ledger.sqlite-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    copy = tmp_path / "copy.sqlite"
    copy.write_bytes((home / "ledger.sqlite").read_bytes())
    assert [r.ref for r in Ledger(copy).runs()] == [done.stdout.strip()]
