"""Differential tests: runhub sends what the official SDK sends (minus its nulls).

Both talk HTTP to the same emulator on 127.0.0.1; a recorder keeps each request so
the bodies and ``Authorization`` headers can be compared byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from codeocean import CodeOcean
from codeocean.computation import (
    DataAssetsRunParam,
    NamedRunParam,
    PipelineProcessParams,
    RunParams,
)
from runhub_codeocean.emulator import (
    ANNOTATION_ASSET,
    ART_CAPSULE,
    DEFAULT_TOKEN,
    FASTQ_ASSET,
    PIPELINE,
    QC_CAPSULE,
    REFERENCE_ASSET,
    CodeOceanEmulator,
)

from runhub.client import Client
from runhub.spec import RunSpec
from runhub.testing.emulator import EmulatorServer

from .conftest import FAST, Recorder, plugins

ART_STEP = "capsule_art_simulation_illumina_1"
QC_STEP = "capsule_fastq_qc_2"
PIPE = {"codeocean": {"kind": "pipeline"}}

#: (id, RunSpec data, the same run as SDK RunParams keyword arguments)
CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    ("capsule-minimal", {"pipeline": ART_CAPSULE}, {"capsule_id": ART_CAPSULE}),
    (
        "capsule-version",
        {"pipeline": ART_CAPSULE, "version": 2},
        {"capsule_id": ART_CAPSULE, "version": 2},
    ),
    (
        "mounts-named",
        {"pipeline": ART_CAPSULE, "mounts": [{"source": REFERENCE_ASSET, "path": "Reference"}]},
        {
            "capsule_id": ART_CAPSULE,
            "data_assets": [DataAssetsRunParam(REFERENCE_ASSET, "Reference")],
        },
    ),
    (
        "mounts-unnamed",
        {"pipeline": ART_CAPSULE, "mounts": [{"source": REFERENCE_ASSET}, {"source": FASTQ_ASSET}]},
        {
            "capsule_id": ART_CAPSULE,
            "data_assets": [DataAssetsRunParam(REFERENCE_ASSET), DataAssetsRunParam(FASTQ_ASSET)],
        },
    ),
    (
        "mounts-mixed",
        {
            "pipeline": QC_CAPSULE,
            "mounts": [{"source": FASTQ_ASSET, "path": "fastqs"}, {"source": ANNOTATION_ASSET}],
        },
        {
            "capsule_id": QC_CAPSULE,
            "data_assets": [
                DataAssetsRunParam(FASTQ_ASSET, "fastqs"),
                DataAssetsRunParam(ANNOTATION_ASSET),
            ],
        },
    ),
    (
        "ordered",
        {"pipeline": ART_CAPSULE, "parameters": ["75", "1", "HS25"]},
        {"capsule_id": ART_CAPSULE, "parameters": ["75", "1", "HS25"]},
    ),
    (
        "ordered-typed-values",
        {"pipeline": ART_CAPSULE, "parameters": [150, 2.5, True]},
        {"capsule_id": ART_CAPSULE, "parameters": ["150", "2.5", "true"]},
    ),
    (
        "named",
        {"pipeline": QC_CAPSULE, "parameters": {"NumFiles": 10, "mode": "fast"}},
        {
            "capsule_id": QC_CAPSULE,
            "named_parameters": [NamedRunParam("NumFiles", "10"), NamedRunParam("mode", "fast")],
        },
    ),
    (
        "named-version-assets",
        {
            "pipeline": QC_CAPSULE,
            "version": 1,
            "mounts": [{"source": FASTQ_ASSET, "path": "in"}, {"source": REFERENCE_ASSET}],
            "parameters": {"adapter_trimming": False, "threads": 8},
        },
        {
            "capsule_id": QC_CAPSULE,
            "version": 1,
            "data_assets": [
                DataAssetsRunParam(FASTQ_ASSET, "in"),
                DataAssetsRunParam(REFERENCE_ASSET),
            ],
            "named_parameters": [
                NamedRunParam("adapter_trimming", "false"),
                NamedRunParam("threads", "8"),
            ],
        },
    ),
    ("pipeline-minimal", {"pipeline": PIPELINE, "options": PIPE}, {"pipeline_id": PIPELINE}),
    (
        "pipeline-processes",
        {
            "pipeline": PIPELINE,
            "options": PIPE,
            "processes": {ART_STEP: ["75", 1, "HS25"], QC_STEP: {"mode": "fast"}},
        },
        {
            "pipeline_id": PIPELINE,
            "processes": [
                PipelineProcessParams(ART_STEP, parameters=["75", "1", "HS25"]),
                PipelineProcessParams(QC_STEP, named_parameters=[NamedRunParam("mode", "fast")]),
            ],
        },
    ),
    (
        "pipeline-profile-assets",
        {
            "pipeline": PIPELINE,
            "options": {"codeocean": {"kind": "pipeline", "nextflow_profile": "test"}},
            "mounts": [{"source": FASTQ_ASSET, "path": "fastqs"}],
            "processes": {QC_STEP: {"threads": 2}},
        },
        {
            "pipeline_id": PIPELINE,
            "nextflow_profile": "test",
            "data_assets": [DataAssetsRunParam(FASTQ_ASSET, "fastqs")],
            "processes": [
                PipelineProcessParams(QC_STEP, named_parameters=[NamedRunParam("threads", "2")])
            ],
        },
    ),
    (
        "pipeline-version-named",
        {"pipeline": PIPELINE, "options": PIPE, "version": 2, "parameters": {"outdir": "out"}},
        {
            "pipeline_id": PIPELINE,
            "version": 2,
            "named_parameters": [NamedRunParam("outdir", "out")],
        },
    ),
    (
        "resume",
        {
            "pipeline": PIPELINE,
            "options": {"codeocean": {"kind": "pipeline", "resume_run_id": "r1"}},
        },
        {"pipeline_id": PIPELINE, "resume_run_id": "r1"},
    ),
]


def drop_nulls(value: Any) -> Any:
    """The SDK's JSON with its ``null`` fields removed, recursively."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


class Both:
    """runhub's client and the SDK pointed at one recorded emulator server."""

    def __init__(self, recorder: Recorder, url: str) -> None:
        self.recorder = recorder
        self.client = Client(
            settings={"codeocean": {"url": url, "api_token": DEFAULT_TOKEN}},
            policy=FAST,
            plugins=plugins(),
        )
        self.sdk = CodeOcean(domain=url, token=DEFAULT_TOKEN)

    def last_run_request(self) -> Any:
        posts = [
            r
            for r in self.recorder.seen
            if r.method == "POST" and r.url.path.endswith("/computations")
        ]
        return posts[-1]


@pytest.fixture(scope="module")
def both() -> Iterator[Both]:
    recorder = Recorder(CodeOceanEmulator())
    with EmulatorServer(recorder) as server:
        pair = Both(recorder, server.url)
        yield pair
        pair.client.close()


def test_cases_cover_the_issue() -> None:
    assert len(CASES) >= 12


@pytest.mark.parametrize(("data", "params"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_body_and_auth_equal_the_sdk(
    both: Both, data: dict[str, Any], params: dict[str, Any]
) -> None:
    status = both.client.launch(RunSpec.from_data(data), "codeocean")
    ours = both.last_run_request()
    computation = both.sdk.computations.run_capsule(RunParams(**params))
    theirs = both.last_run_request()
    assert ours is not theirs
    assert json.loads(ours.content) == drop_nulls(json.loads(theirs.content))
    assert ours.headers["authorization"] == theirs.headers["authorization"]
    # Both runs exist and the SDK can read what the emulator answered.
    assert computation.id != status.ref.id
    assert both.sdk.computations.get_computation(status.ref.id).id == status.ref.id


def test_min_server_version_is_not_sent_unless_configured(both: Both) -> None:
    both.client.launch(RunSpec.from_data({"pipeline": ART_CAPSULE}), "codeocean")
    ours = both.last_run_request()
    both.sdk.computations.run_capsule(RunParams(capsule_id=ART_CAPSULE))
    theirs = both.last_run_request()
    assert "min-server-version" not in ours.headers
    assert theirs.headers["min-server-version"] == CodeOcean.MIN_SERVER_VERSION


def test_basic_auth_is_token_with_empty_password(both: Both) -> None:
    both.client.status(f"codeocean:{both.recorder.app.created[0]}")
    header = both.recorder.seen[-1].headers["authorization"]
    import base64

    assert base64.b64decode(header.removeprefix("Basic ")).decode() == f"{DEFAULT_TOKEN}:"
