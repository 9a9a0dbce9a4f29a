"""The emulator's documented-variance mode: each reading answers as the authority
allows, in bodies the official SDK parses (``codeocean`` 0.17.0 models)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest
from codeocean.models.capsule import AppPanel, Capsule
from codeocean.models.computation import Computation
from runhub_codeocean.emulator import FASTQ_ASSET, VARIANCE, CodeOceanEmulator

from runhub.testing.emulator import Clock

from .conftest import ART_CAPSULE, DEFAULT_TOKEN, PIPELINE, QC_CAPSULE, REFERENCE_ASSET

AUTH = httpx.BasicAuth(DEFAULT_TOKEN, "")
BASE = "http://127.0.0.1/api/v1/"


def call(app: CodeOceanEmulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    request = next(AUTH.auth_flow(httpx.Request(method, BASE + path, **kwargs)))
    return app.handle(request)


def run(app: CodeOceanEmulator, body: dict[str, Any]) -> httpx.Response:
    return call(app, "POST", "computations", json=body)


def emulator(*readings: str) -> CodeOceanEmulator:
    return CodeOceanEmulator(clock=Clock(speed=0.0), variance=readings or True)


def test_every_reading_is_named_and_unknown_ones_are_refused() -> None:
    assert emulator().variance == frozenset(VARIANCE)
    assert CodeOceanEmulator().variance == frozenset()
    with pytest.raises(ValueError, match="unknown variance"):
        CodeOceanEmulator(variance="attached-assets,typo")


def test_attached_assets_are_listed_beside_the_ones_sent() -> None:
    app = emulator("attached-assets")
    body = {"capsule_id": QC_CAPSULE, "data_assets": [{"id": FASTQ_ASSET, "mount": "fastqs"}]}
    got = Computation.from_dict(run(app, body).json())
    assert got.data_assets is not None
    assert {(a.id, a.mount) for a in got.data_assets} == {
        (FASTQ_ASSET, "fastqs"),
        (REFERENCE_ASSET, "Reference"),  # attached to the capsule itself
    }
    # A sent asset at the attached asset's mount replaces it.
    swap = {"capsule_id": QC_CAPSULE, "data_assets": [{"id": FASTQ_ASSET, "mount": "Reference"}]}
    replaced = run(app, swap).json()["data_assets"]
    assert replaced == [{"id": FASTQ_ASSET, "mount": "Reference"}]
    plain = CodeOceanEmulator(clock=Clock(speed=0.0))
    assert len(run(plain, body).json()["data_assets"]) == 1


def test_label_only_parameters_and_the_app_panel_that_names_them() -> None:
    app = emulator("label-only-parameters")
    body = {
        "capsule_id": QC_CAPSULE,
        "named_parameters": [
            {"param_name": "NumFiles", "value": "10"},
            {"param_name": "mode", "value": "fast"},
        ],
    }
    got = Computation.from_dict(run(app, body).json())
    assert got.parameters is not None
    assert [(p.name, p.param_name, p.value) for p in got.parameters] == [
        ("Number of files", None, "10"),
        ("mode", None, "fast"),
    ]
    panel = AppPanel.from_dict(call(app, "GET", f"capsules/{QC_CAPSULE}/app_panel").json())
    assert panel.parameters is not None
    assert {p.param_name: p.name for p in panel.parameters}["NumFiles"] == "Number of files"
    versioned = call(app, "GET", f"capsules/{QC_CAPSULE}/app_panel", params={"version": 2})
    assert versioned.status_code == 200
    missing = call(app, "GET", f"capsules/{QC_CAPSULE}/app_panel", params={"version": 9})
    assert missing.status_code == 404


def test_unknown_end_statuses() -> None:
    app = emulator("unknown-end-status")
    failing = run(app, {"capsule_id": ART_CAPSULE, "parameters": ["fail"]}).json()["id"]
    crashing = run(app, {"capsule_id": ART_CAPSULE, "parameters": ["crash"]}).json()["id"]
    app.clock.advance(60)
    failed = app.runs[failing].to_json(app.clock.now())
    assert (failed["state"], failed["end_status"], failed["exit_code"]) == (
        "completed",
        "timed_out",
        0,
    )
    crashed = app.runs[crashing].to_json(app.clock.now())
    assert (crashed["state"], crashed["end_status"]) == ("completed", "preempted")
    assert "exit_code" not in crashed
    with pytest.raises(ValueError, match="timed_out"):  # the SDK's enum is closed
        Computation.from_dict(failed)


def test_nonzero_exit_with_succeeded_is_scripted_in_every_mode() -> None:
    app = CodeOceanEmulator(clock=Clock(speed=0.0))
    ident = run(app, {"capsule_id": ART_CAPSULE, "parameters": ["nonzero"]}).json()["id"]
    app.clock.advance(60)
    done = Computation.from_dict(app.runs[ident].to_json(app.clock.now()))
    assert (done.end_status, done.exit_code) == ("succeeded", 3)


def test_capsule_id_wins_when_both_ids_are_given() -> None:
    both = {"capsule_id": ART_CAPSULE, "pipeline_id": PIPELINE}
    assert run(CodeOceanEmulator(), both).status_code == 400
    app = emulator("capsule-id-wins")
    created = run(app, both)
    assert created.status_code == 200
    assert app.runs[created.json()["id"]].target.id == ART_CAPSULE


def test_a_pipeline_id_is_accepted_as_capsule_id() -> None:
    as_capsule = {"capsule_id": PIPELINE}
    assert run(CodeOceanEmulator(), as_capsule).status_code == 404
    app = emulator("pipeline-as-capsule")
    ident = run(app, as_capsule).json()["id"]
    assert app.runs[ident].target.id == PIPELINE
    # It is a pipeline's run: listed as one, not under capsules/.
    assert call(app, "GET", f"capsules/{PIPELINE}/computations").status_code == 404
    listed = call(app, "GET", f"pipelines/{PIPELINE}/computations").json()
    assert [c["id"] for c in listed] == [ident]


@pytest.mark.parametrize("apart", [False, True])
def test_version_runs_and_the_release_capsule(apart: bool) -> None:
    app = emulator("release-listing") if apart else CodeOceanEmulator(clock=Clock(speed=0.0))
    pinned = run(app, {"capsule_id": ART_CAPSULE, "version": 2}).json()["id"]
    latest = run(app, {"capsule_id": ART_CAPSULE}).json()["id"]
    capsule = Capsule.from_dict(call(app, "GET", f"capsules/{ART_CAPSULE}").json())
    assert capsule.release_capsule is not None
    assert capsule.versions is not None
    assert [v.major_version for v in capsule.versions] == [1, 2, 3]
    release = Capsule.from_dict(call(app, "GET", f"capsules/{capsule.release_capsule}").json())
    assert release.status == "release"
    own = [c["id"] for c in call(app, "GET", f"capsules/{ART_CAPSULE}/computations").json()]
    theirs = call(app, "GET", f"capsules/{capsule.release_capsule}/computations").json()
    assert [c["id"] for c in theirs] == [pinned]
    assert own == ([latest] if apart else [pinned, latest])


def test_result_names_with_url_characters_are_served() -> None:
    app = CodeOceanEmulator(clock=Clock(speed=0.0))
    app.result_files["odd/sample #1?.txt"] = 7
    ident = run(app, {"capsule_id": ART_CAPSULE}).json()["id"]
    app.clock.advance(60)
    urls = call(
        app, "GET", f"computations/{ident}/results/urls", params={"path": "odd/sample #1?.txt"}
    ).json()
    download = httpx.Request("GET", urls["download_url"])
    assert app.handle(download).content == b"x" * 7


def test_python_m_emulator_takes_variance() -> None:
    command = [sys.executable, "-m", "runhub_codeocean.emulator", "--port", "0"]
    bad = subprocess.run(
        [*command, "--variance", "nope"], capture_output=True, text=True, timeout=30, check=False
    )
    assert bad.returncode == 2
    assert "unknown variance" in bad.stderr
    proc = subprocess.Popen([*command, "--variance", "all"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        answer = httpx.post(
            f"{url}/api/v1/computations",
            json={"capsule_id": PIPELINE},  # pipeline-as-capsule is on
            auth=(DEFAULT_TOKEN, ""),
        )
        assert answer.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
