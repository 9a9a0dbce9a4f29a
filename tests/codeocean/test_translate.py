"""RunSpec -> POST computations body, and every offline check (no HTTP here)."""

from __future__ import annotations

from typing import Any

import pytest
from runhub_codeocean.backend import CodeOceanBackend
from runhub_codeocean.settings import CodeOceanSettings
from runhub_codeocean.translate import text, translate

from runhub.errors import SpecError, Unsupported

from .conftest import ART_CAPSULE, FASTQ_ASSET, PIPELINE, REFERENCE_ASSET, pipeline_spec, spec


def test_minimal_capsule_sends_only_the_capsule_id() -> None:
    launch = translate(spec())
    assert launch.kind == "capsule"
    assert launch.route == "capsules"
    assert launch.body == {"capsule_id": ART_CAPSULE}


def test_full_capsule_mapping() -> None:
    launch = translate(
        spec(
            version="2",
            mounts=[{"source": REFERENCE_ASSET, "path": "Reference"}, {"source": FASTQ_ASSET}],
            parameters=["75", 1, 2.5, True, False],
            options={"codeocean": {"resume_run_id": "prev-run"}},
        )
    )
    assert launch.body == {
        "capsule_id": ART_CAPSULE,
        "version": 2,
        "resume_run_id": "prev-run",
        "data_assets": [{"id": REFERENCE_ASSET, "mount": "Reference"}, {"id": FASTQ_ASSET}],
        "parameters": ["75", "1", "2.5", "true", "false"],
    }


def test_named_parameters_keep_order_and_become_strings() -> None:
    body = translate(spec(parameters={"NumFiles": 10, "mode": "fast", "trim": True})).body
    assert body["named_parameters"] == [
        {"param_name": "NumFiles", "value": "10"},
        {"param_name": "mode", "value": "fast"},
        {"param_name": "trim", "value": "true"},
    ]
    assert "parameters" not in body


def test_pipeline_with_processes_and_profile() -> None:
    launch = translate(
        pipeline_spec(
            processes={"step_a": ["75", 1], "step_b": {"threads": 4}, "step_c": []},
            co={"nextflow_profile": "test"},
        )
    )
    assert launch.kind == "pipeline"
    assert launch.route == "pipelines"
    assert launch.body == {
        "pipeline_id": PIPELINE,
        "nextflow_profile": "test",
        "processes": [
            {"name": "step_a", "parameters": ["75", "1"]},
            {"name": "step_b", "named_parameters": [{"param_name": "threads", "value": "4"}]},
            {"name": "step_c"},
        ],
    }


def test_list_values_are_joined() -> None:
    assert text(["a", 1, True]) == "a,1,true"


def test_no_nulls_anywhere() -> None:
    body = translate(spec(mounts=[{"source": REFERENCE_ASSET}], parameters=[""])).body

    def walk(value: Any) -> None:
        assert value is not None
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(body)


@pytest.mark.parametrize(
    ("fields", "error", "words"),
    [
        ({"tags": {"project": "x"}}, Unsupported, "name"),
        ({"outputs": {"path": "/runs/a"}}, Unsupported, "runhub outputs"),
        ({"processes": {"s": ["1"]}}, SpecError, "kind: pipeline"),
        ({"mounts": [{"source": REFERENCE_ASSET, "input": "fq"}]}, Unsupported, "mounts.0.input"),
        ({"version": "v2"}, SpecError, "version"),
        ({"version": 0}, SpecError, "version"),
        ({"options": {"codeocean": {"kind": "workflow"}}}, SpecError, "options.codeocean.kind"),
        ({"options": {"codeocean": {"profile": "x"}}}, SpecError, "nextflow_profile"),
        ({"options": {"codeocean": {"nextflow_profile": "t"}}}, SpecError, "pipelines only"),
        ({"options": {"codeocean": {"resume_run_id": 5}}}, SpecError, "resume_run_id"),
        ({"pipeline": "my capsule"}, SpecError, "pipeline"),
    ],
)
def test_offline_errors_name_the_problem(
    fields: dict[str, Any], error: type[Exception], words: str
) -> None:
    pipeline = fields.pop("pipeline", ART_CAPSULE)
    with pytest.raises(error) as caught:
        translate(spec(pipeline, **fields))
    assert words in str(caught.value)


def test_validate_needs_no_settings_and_no_io() -> None:
    backend = CodeOceanBackend(CodeOceanSettings())
    backend.validate(spec(parameters={"a": 1}))
    with pytest.raises(Unsupported):
        backend.validate(spec(tags={"a": "b"}))


def test_other_backends_options_are_ignored() -> None:
    body = translate(spec(options={"ica": {"storage": "Small"}})).body
    assert body == {"capsule_id": ART_CAPSULE}
