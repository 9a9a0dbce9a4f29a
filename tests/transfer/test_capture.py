"""Code Ocean: a finished run's results captured as a data asset (emulator served
over HTTP), checked against the official SDK's models."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from codeocean.models import data_asset as sdk
from runhub_codeocean.backend import CodeOceanBackend
from runhub_codeocean.emulator import DEFAULT_TOKEN, CodeOceanEmulator, assets
from runhub_codeocean.emulator.assets import COMPUTATION_SOURCE, DATA_ASSET_PARAMS, UNEMULATED

from runhub.client import Client
from runhub.errors import PlatformError, SpecError, WaitTimeout
from runhub.plugins import BackendInfo, Registry
from runhub.spec import RunSpec
from runhub.testing.emulator import Clock, EmulatorServer

from .conftest import FAST, Result

ART = "3f2f5a8e-1c61-4f0b-9a55-6d1f2c7b9e01"
SPEC = {"backend": "codeocean", "pipeline": ART, "version": 2, "parameters": ["75", "1", "HS25"]}


@pytest.fixture
def co(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[CodeOceanEmulator, Client]]:
    app = CodeOceanEmulator(clock=Clock(speed=200))
    with EmulatorServer(app) as server:
        monkeypatch.setenv("CODEOCEAN_URL", server.url)
        monkeypatch.setenv("CODEOCEAN_API_TOKEN", DEFAULT_TOKEN)
        registry = Registry(backends={"codeocean": BackendInfo(CodeOceanBackend, "x", None, None)})
        with Client(policy=FAST, plugins=registry) as client:
            yield app, client


def _finished(client: Client, **params: Any) -> str:
    status = client.launch(RunSpec.from_data({**SPEC, **params}))
    from runhub.clientbase import PollSchedule

    return str(client.wait(status.ref, poll=PollSchedule(0.02, 1.0, 0.02, 0.0)).ref)


def test_capture_gives_a_ready_asset_the_next_run_mounts(
    co: tuple[CodeOceanEmulator, Client],
) -> None:
    app, client = co
    ref = _finished(client)
    asset = client.capture(ref, "art results", mount="art", tags=["sample-A"], poll=0.02)
    assert (asset.state, asset.mount, asset.source_run) == ("ready", "art", ref.split(":")[1])
    assert "sample-A" in asset.tags
    (body,) = app.captured.bodies
    assert body["source"] == {"computation": {"id": ref.split(":")[1]}}
    # idempotent: the same run captured again is the same asset, nothing created
    again = client.capture(ref, "art results", poll=0.02)
    assert again.id == asset.id
    assert len(app.captured.bodies) == 1
    # the next launch mounts it
    follow = client.launch(
        RunSpec.from_data({**SPEC, "mounts": [{"source": asset.id, "path": "prev"}]})
    )
    assert app.run_bodies[-1]["data_assets"] == [{"id": asset.id, "mount": "prev"}]
    assert follow.ref.backend == "codeocean"


def test_a_failed_asset_reports_the_platform_reason_and_is_made_anew(
    co: tuple[CodeOceanEmulator, Client],
) -> None:
    app, client = co
    ref = _finished(client, parameters=["75", "fail", "HS25"])
    with pytest.raises(PlatformError, match="did not produce results") as info:
        client.capture(ref, "broken", poll=0.02)
    assert info.value.exit_code == 4
    with pytest.raises(PlatformError):
        client.capture(ref, "broken", poll=0.02)
    assert len(app.captured.bodies) == 2  # a failed asset is never adopted


def test_an_unfinished_run_is_refused_and_waiting_can_time_out(
    co: tuple[CodeOceanEmulator, Client], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = co
    status = client.launch(RunSpec.from_data({**SPEC, "parameters": ["75", "slow", "HS25"]}))
    with pytest.raises(SpecError, match="has not finished"):
        client.capture(status.ref, "early", poll=0.02)
    assert app.captured.bodies == []
    ref = _finished(client)
    monkeypatch.setattr(assets, "READY_SECONDS", 1e9)  # the asset stays draft
    with pytest.raises(WaitTimeout):
        client.capture(ref, "slow asset", poll=0.01, timeout=0.05)


def test_capture_cli_prints_the_id_and_is_idempotent(
    co: tuple[CodeOceanEmulator, Client], cli: Callable[..., Result], tmp_path: Path
) -> None:
    _, client = co
    ref = _finished(client)
    first = cli("capture", ref, "--name", "art results", "--poll", "0.05", "-o", "json")
    assert first.code == 0, first.err
    data = first.json()
    assert data["state"] == "ready"
    again = cli("capture", ref, "--name", "art results", "-q")
    assert again.out.strip() == data["id"]
    spec = tmp_path / "next.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "mounts": [{"source": data["id"], "path": "prev"}]}))
    assert cli("launch", str(spec)).code == 0
    cli("capture", "codeocean:" + "0" * 8 + "-0000-4000-8000-" + "0" * 12, "--name", "x").fails(
        4, "404"
    )


def test_the_emulators_data_asset_models_match_the_sdk() -> None:
    names = {f.name for f in dataclasses.fields(sdk.DataAssetParams)}
    emulated = set(DATA_ASSET_PARAMS.required) | set(DATA_ASSET_PARAMS.optional) | set(UNEMULATED)
    assert emulated == names
    required = {
        f.name
        for f in dataclasses.fields(sdk.DataAssetParams)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert set(DATA_ASSET_PARAMS.required) == required
    source = {f.name for f in dataclasses.fields(sdk.ComputationSource)}
    assert set(COMPUTATION_SOURCE.required) | set(COMPUTATION_SOURCE.optional) == source


def test_the_emulators_assets_parse_with_the_sdk(co: tuple[CodeOceanEmulator, Client]) -> None:
    app, client = co
    ref = _finished(client)
    asset = client.capture(ref, "parsed", poll=0.02)
    raw = app.captured.assets[asset.id].to_json(app.clock.now())
    parsed = sdk.DataAsset.from_dict(json.loads(json.dumps(raw)))
    assert (parsed.id, parsed.state, parsed.provenance.computation) == (
        asset.id,
        sdk.DataAssetState.Ready,
        ref.split(":")[1],
    )
    found = sdk.DataAssetSearchResults.from_dict({"has_more": False, "results": [raw]})
    assert found.results[0].tags == raw["tags"]
