"""The emulator itself: SDK-faithful request checks, answers the SDK can parse,
progression over emulated time, and serving over HTTP (also as ``python -m``)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import typing
from typing import Any

import httpx
import pytest
from codeocean.computation import Computation, RunParams
from codeocean.models import computation as sdk_computation
from codeocean.models import folder as sdk_folder
from runhub_codeocean.emulator import CodeOceanEmulator
from runhub_codeocean.emulator.model import (
    DATA_ASSETS_RUN_PARAM,
    LIST_FOLDER_PARAMS,
    NAMED_RUN_PARAM,
    PIPELINE_PROCESS_PARAMS,
    RUN_PARAMS,
    Obj,
)

from runhub.client import Client
from runhub.testing.emulator import Clock, EmulatorServer, FaultPlan

from .conftest import (
    ART_CAPSULE,
    DEFAULT_TOKEN,
    FAST,
    PIPELINE,
    QC_CAPSULE,
    REFERENCE_ASSET,
    finish,
    plugins,
    spec,
)

AUTH = httpx.BasicAuth(DEFAULT_TOKEN, "")


def sdk_schema(cls: type) -> dict[str, Any]:
    """``{field: (required, json type)}`` of an SDK dataclass, from its type hints."""
    hints = typing.get_type_hints(cls, vars(sdk_computation) | vars(sdk_folder))
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        required = f.default is dataclasses.MISSING
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint) is typing.Union:
            hint = args[0]
        if typing.get_origin(hint) is list:
            item = typing.get_args(hint)[0]
            out[f.name] = (
                required,
                [getattr(item, "__name__", item) if dataclasses.is_dataclass(item) else item],
            )
        else:
            out[f.name] = (required, hint)
    return out


def our_schema(obj: Obj) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for required, fields in ((True, obj.required), (False, obj.optional)):
        for name, sub in fields.items():
            if isinstance(sub, list):
                item = sub[0]
                out[name] = (required, [item.name if isinstance(item, Obj) else item])
            else:
                out[name] = (required, sub)
    return out


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (RUN_PARAMS, sdk_computation.RunParams),
        (NAMED_RUN_PARAM, sdk_computation.NamedRunParam),
        (DATA_ASSETS_RUN_PARAM, sdk_computation.DataAssetsRunParam),
        (PIPELINE_PROCESS_PARAMS, sdk_computation.PipelineProcessParams),
        (LIST_FOLDER_PARAMS, sdk_folder.ListFolderParams),
    ],
)
def test_request_model_matches_the_sdk(ours: Obj, theirs: type) -> None:
    assert our_schema(ours) == sdk_schema(theirs)
    assert ours.name == theirs.__name__


def post(app: CodeOceanEmulator, body: Any, *, auth: httpx.Auth | None = AUTH) -> httpx.Response:
    request = httpx.Request("POST", "http://127.0.0.1/api/v1/computations", json=body)
    if auth is not None:
        request = next(auth.auth_flow(request))
    return app.handle(request)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"capsule_id": ART_CAPSULE, "capsule": "x"}, "body.capsule: unknown field"),
        ({"capsule_id": ART_CAPSULE, "version": "2"}, "body.version: expected an integer"),
        ({"capsule_id": ART_CAPSULE, "version": True}, "expected an integer"),
        ({"capsule_id": ART_CAPSULE, "parameters": [75]}, "body.parameters[0]: expected a string"),
        (
            {"capsule_id": ART_CAPSULE, "data_assets": [{"mount": "m"}]},
            "data_assets[0].id: required",
        ),
        (
            {"capsule_id": QC_CAPSULE, "named_parameters": [{"param_name": "mode", "value": 1}]},
            "named_parameters[0].value",
        ),
        ({"pipeline_id": PIPELINE, "processes": [{"parameters": []}]}, "processes[0].name"),
        ({"capsule_id": ART_CAPSULE, "pipeline_id": PIPELINE}, "not both"),
        ({}, "either capsule_id or pipeline_id"),
        ([], "expected an object"),
        ({"capsule_id": ART_CAPSULE, "version": 9}, "does not exist"),
        ({"capsule_id": ART_CAPSULE, "parameters": ["1", "2", "3", "4"]}, "takes 3 ordered"),
        ({"capsule_id": ART_CAPSULE, "data_assets": [{"id": "nope"}]}, "data asset nope"),
        ({"capsule_id": ART_CAPSULE, "processes": [{"name": "x"}]}, "only valid for pipelines"),
        ({"pipeline_id": PIPELINE, "processes": [{"name": "x"}]}, "no process 'x'"),
    ],
)
def test_bad_run_requests_are_400_with_a_message(body: Any, words: str) -> None:
    app = CodeOceanEmulator(clock=Clock(speed=0.0))
    response = post(app, body)
    assert response.status_code == 400
    assert words in response.json()["message"]
    assert app.created == []


def test_unknown_capsule_is_404() -> None:
    response = post(CodeOceanEmulator(), {"capsule_id": "nope"})
    assert response.status_code == 404
    assert "capsule nope not found" in response.json()["message"]


def test_sdk_style_nulls_are_accepted() -> None:
    app = CodeOceanEmulator(clock=Clock(speed=0.0))
    body = RunParams(capsule_id=ART_CAPSULE).to_dict()
    assert body["pipeline_id"] is None
    assert post(app, body).status_code == 200


def test_auth_is_required() -> None:
    app = CodeOceanEmulator(token="t-123")
    assert post(app, {"capsule_id": ART_CAPSULE}, auth=None).status_code == 401
    assert (
        post(app, {"capsule_id": ART_CAPSULE}, auth=httpx.BasicAuth("t-123", "x")).status_code
        == 401
    )
    assert (
        post(app, {"capsule_id": ART_CAPSULE}, auth=httpx.BasicAuth("t-123", "")).status_code == 200
    )


def test_progression_and_sdk_parsable_answers() -> None:
    app = CodeOceanEmulator(clock=Clock(speed=0.0))
    created = post(app, {"capsule_id": ART_CAPSULE, "data_assets": [{"id": REFERENCE_ASSET}]})
    computation = Computation.from_dict(created.json())
    assert computation.data_assets is not None
    assert computation.data_assets[0].mount == "Reference"  # the asset's default mount
    seen = []
    for _ in range(8):
        seen.append(app.runs[computation.id].to_json(app.clock.now())["state"])
        app.clock.advance(1)
    assert seen[0] == "initializing"
    assert "running" in seen
    assert "finalizing" in seen
    assert seen[-1] == "completed"
    final = Computation.from_dict(app.runs[computation.id].to_json(app.clock.now()))
    assert (final.end_status, final.exit_code, final.has_results) == ("succeeded", 0, True)
    listed = app.handle(
        next(
            AUTH.auth_flow(
                httpx.Request("GET", f"http://127.0.0.1/api/v1/capsules/{ART_CAPSULE}/computations")
            )
        )
    )
    assert [Computation.from_dict(c).id for c in listed.json()] == [computation.id]
    results = app.handle(
        next(
            AUTH.auth_flow(
                httpx.Request(
                    "POST",
                    f"http://127.0.0.1/api/v1/computations/{computation.id}/results",
                    json={"path": "logs"},
                )
            )
        )
    )
    folder = sdk_folder.Folder.from_dict(results.json())
    assert {(i.name, i.type) for i in folder.items} == {("run.log", "file"), ("nextflow", "folder")}


def test_over_http_drop_after_create_still_one_run() -> None:
    app = CodeOceanEmulator(clock=Clock(speed=0.0))
    faults = FaultPlan(only=["POST /api/v1/computations"])
    faults.push("drop-after")
    with (
        EmulatorServer(app, faults=faults) as server,
        Client(
            settings={"codeocean": {"url": server.url, "api_token": DEFAULT_TOKEN}},
            policy=FAST,
            plugins=plugins(),
        ) as client,
    ):
        status = client.launch(spec(parameters=["75", "1", "HS25"]))
        finish(app)
        outputs = client.outputs(status.ref)
        url = client.download_urls(status.ref, outputs[:1])[0].url
        assert url is not None
        assert httpx.get(url).content == b"x" * 42  # signed URL: no auth needed
    assert app.created == [status.ref.id]
    assert faults.counts["drop-after"] == 1


def test_python_m_emulator_serves_and_prints_its_url() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runhub_codeocean.emulator",
            "--port",
            "0",
            "--token",
            "tok-x",
            "--speed",
            "50",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        listed = httpx.get(f"{url}/api/v1/capsules/{ART_CAPSULE}/computations", auth=("tok-x", ""))
        assert listed.status_code == 200
        assert listed.json() == []
        assert httpx.get(f"{url}/api/v1/capsules/{ART_CAPSULE}/computations").status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)
