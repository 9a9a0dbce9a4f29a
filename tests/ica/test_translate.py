"""RunSpec -> ICA bodies, offline: every body validates against the official schema."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from runhub_ica.emulator import schema
from runhub_ica.translate import (
    KINDS,
    Resolved,
    body,
    check_name,
    default_name,
    plan,
    suggest_name,
    translate,
    unstaged,
)

from runhub.errors import SpecError, Unsupported
from runhub.spec import RunSpec

PROJECT = "0d4f6a1e-6b1c-4a8e-9a51-2f3c5b7e8d90"
PIPELINE = "c5e1a2b3-4d5e-4f6a-8b7c-9d0e1f2a3b01"
STORAGE = "5a1c2e3f-0002-4d6b-9a8c-7e0f1b2c3d02"
CREDS = "11111111-2222-4333-8444-555555555555"
FOL = "fol.0123456789abcdef0123456789abcdef"
FIL = "fil.fedcba9876543210fedcba9876543210"
S3 = "s3://lab-bucket/runs/r1/reads_R1.fastq.gz"


def make(kind: str, **fields: Any) -> RunSpec:
    data: dict[str, Any] = {
        "pipeline": PIPELINE,
        "name": "sample-A/run 1",
        "mounts": [{"source": FOL, "input": "fastqs"}],
        "parameters": {"enable_sv": True, "threads": 8, "sample_ids": ["S1", "S2"]},
        "tags": {"subject": "S1"},
        "options": {"ica": {"kind": kind}},
    }
    data.update(fields)
    return RunSpec.from_data(data)


def resolved(spec: RunSpec, **kw: Any) -> Resolved:
    p = plan(spec)
    ids = tuple(
        m.source if m.kind == "id" else (FIL if m.kind == "path" else None) for m in p.mounts
    )
    codes = tuple(m.input or "fastqs" for m in p.mounts)
    # what the launch looks up for data ids: the data's name (mount paths end with it)
    names = tuple(f"{m.source}.name" if m.kind == "id" else None for m in p.mounts)
    kw.setdefault("data_names", names)
    return Resolved(PROJECT, PIPELINE, data_ids=ids, input_codes=codes, **kw)


def assert_valid(endpoint: str, payload: dict[str, Any]) -> None:
    """The libica model of the endpoint's request schema accepts ``payload``."""
    problems = schema.problems(schema.REQUESTS[endpoint], payload)
    assert problems == {}, problems


MOUNT_FORMS = {
    "data id": [{"source": FOL, "input": "fastqs"}],
    "data id with mount path": [{"source": FIL, "input": "fastqs", "path": "reads/R1.fastq.gz"}],
    "project path": [{"source": "/fastqs/A_R1.fastq.gz", "input": "fastqs"}],
    "ica uri": [{"source": "ica://shared-references/genomes/GRCh38/genome.fa", "input": "ref"}],
    "s3": [{"source": S3, "input": "fastqs", "path": "reads/R1.fastq.gz"}],
    "several into one input": [
        {"source": FIL, "input": "fastqs"},
        {"source": "fil.00000000000000000000000000000001", "input": "fastqs"},
        {"source": FOL, "input": "ref"},
    ],
    "none": [],
}
PARAM_FORMS = {
    "scalars": {"a": "x", "b": 1, "c": 2.5},
    "booleans": {"on": True, "off": False},
    "lists": {"ids": ["S1", "S2"], "nums": [1, 2]},
    "none": None,
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("mounts", list(MOUNT_FORMS))
def test_every_kind_and_mount_form_validates(kind: str, mounts: str) -> None:
    options = {"kind": kind, "storage_credentials": CREDS}
    spec = make(kind, mounts=MOUNT_FORMS[mounts], options={"ica": options})
    endpoint, payload = translate(spec, resolved(spec, storage_id=STORAGE), key="k1", batch="b1")
    assert endpoint == KINDS[kind]
    assert_valid(endpoint, payload)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("params", list(PARAM_FORMS))
def test_every_kind_and_parameter_form_validates(kind: str, params: str) -> None:
    spec = make(kind, parameters=PARAM_FORMS[params])
    endpoint, payload = translate(spec, resolved(spec), key="k1")
    assert_valid(endpoint, payload)


def test_schema_check_rejects_a_broken_body() -> None:
    """The check the tests rely on does fail on a body the schema rejects."""
    spec = make("nextflow")
    endpoint, payload = translate(spec, resolved(spec), key="k")
    broken = dict(payload, userReference="bad.name", color="blue")
    del broken["pipelineId"]
    problems = schema.problems(schema.REQUESTS[endpoint], broken)
    assert {"userReference", "pipelineId", "color"} <= set(problems)
    both = json.loads(json.dumps(payload))
    both["analysisInput"]["parameters"][0]["multiValue"] = ["x"]
    assert schema.problems(schema.REQUESTS[endpoint], both)


def test_nextflow_structured_body() -> None:
    spec = make("nextflow", outputs={"path": "runs/sample-A", "on_exist": "overwrite"})
    p = plan(spec)
    payload = body(p, resolved(spec, storage_id=STORAGE), key="key-1", batch="batch-7")
    assert payload["userReference"] == "sample-A/run 1"
    assert payload["pipelineId"] == PIPELINE
    assert payload["analysisStorageId"] == STORAGE
    assert payload["tags"] == {
        "technicalTags": ["runhub", "runhub-key:key-1", "runhub-batch:batch-7"],
        "userTags": ["subject=S1"],
        "referenceTags": [],
    }
    assert payload["analysisInput"] == {
        "inputs": [{"parameterCode": "fastqs", "dataIds": [FOL]}],
        "parameters": [
            {"code": "enable_sv", "value": "true"},
            {"code": "threads", "value": "8"},
            {"code": "sample_ids", "multiValue": ["S1", "S2"]},
        ],
    }
    assert payload["analysisOutput"] == [
        {
            "sourcePath": "out/",
            "type": "FOLDER",
            "targetProjectId": PROJECT,
            "targetPath": "/runs/sample-A/",
            "actionOnExist": "OVERWRITE",
        }
    ]


def test_mount_paths_and_external_data() -> None:
    spec = make(
        "nextflow",
        mounts=[
            {"source": FIL, "input": "fastqs", "path": "reads/R1.fastq.gz"},
            {"source": S3, "input": "fastqs"},
        ],
        options={"ica": {"storage_credentials": CREDS}},
    )
    payload = body(plan(spec), resolved(spec), key="k")
    (entry,) = payload["analysisInput"]["inputs"]
    assert entry["mounts"] == [{"dataId": FIL, "mountPath": "reads/R1.fastq.gz"}]
    assert entry["externalData"] == [
        {"url": S3, "type": "s3", "s3Details": {"storageCredentialsId": CREDS}}
    ]


def test_custom_input_carries_parameters_and_mounts_as_json() -> None:
    spec = make(
        "nextflow-custom",
        mounts=[{"source": "/samplesheets/sheet.csv", "input": "input"}],
        parameters={"genome": "GRCh38", "skip_qc": False, "max_cpus": 4},
    )
    payload = body(plan(spec), resolved(spec), key="k")
    ai = payload["analysisInput"]
    assert json.loads(ai["customInput"]) == {
        "genome": "GRCh38",
        "skip_qc": False,
        "max_cpus": 4,
        "input": "sheet.csv",
    }
    assert ai["mounts"] == [{"dataId": FIL, "mountPath": "sheet.csv"}]
    assert "inputs" not in ai


def test_cwl_json_input_describes_files_and_directories() -> None:
    spec = make(
        "cwl-json",
        mounts=[
            {"source": FIL, "input": "reads", "path": "in/reads.fq.gz"},
            {"source": FOL, "input": "index"},
            {"source": FIL},
        ],
        parameters={"threads": 4},
    )
    names = ("reads.fq.gz", "GRCh38-index", "extra.fq.gz")  # as the launch looks them up
    ai = body(plan(spec), resolved(spec, data_names=names), key="k")["analysisInput"]
    assert json.loads(ai["inputJson"]) == {
        "threads": 4,
        "reads": {"class": "File", "location": "in/reads.fq.gz"},
        # a mount path ends with the data's name (AnalysisInputDataMount.mountPath), never
        # the data id
        "index": {"class": "Directory", "location": "GRCh38-index"},
    }
    assert ai["mounts"][1] == {"dataId": FOL, "mountPath": "GRCh38-index"}
    assert ai["dataIds"] == [FIL]


def test_activation_code_uuid_is_sent() -> None:
    code = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c65"
    spec = make("nextflow", options={"ica": {"activation_code": code}})
    p = plan(spec)
    assert p.activation == code
    payload = body(p, resolved(spec, activation_id=code), key="k")
    assert payload["activationCodeDetailId"] == code
    assert_valid("analysis:nextflow", payload)


# -- names ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "sample A_1-2", "proj/sample/run-1", "/lead", "x" * 255])
def test_valid_names_pass(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["sample.A", "run#1", "trailing/", "a//b", "x" * 256, "ünïcode", "tab\there"]
)
def test_invalid_names_are_spec_errors_with_a_valid_suggestion(name: str) -> None:
    with pytest.raises(SpecError) as info:
        plan(make("nextflow", name=name))
    err = info.value
    assert err.field == "name"
    assert "letters, digits, space" in str(err)
    suggestion = suggest_name(name)
    assert repr(suggestion) in str(err)
    assert check_name(suggestion) == suggestion


def test_missing_name_is_generated_from_the_key() -> None:
    spec = make("nextflow", name=None)
    payload_a = body(plan(spec), resolved(spec), key="runhub-3f2a:1")
    payload_b = body(plan(spec), resolved(spec), key="runhub-3f2a:1")
    assert payload_a["userReference"] == payload_b["userReference"] == default_name("runhub-3f2a:1")
    assert check_name(payload_a["userReference"])
    assert_valid("analysis:nextflow", payload_a)


# -- offline errors ------------------------------------------------------------------


def test_ordered_parameters_are_a_spec_error() -> None:
    with pytest.raises(SpecError, match="named parameters") as info:
        plan(make("nextflow", parameters=["75", "1"]))
    assert info.value.field == "parameters"


def test_processes_and_version_are_unsupported() -> None:
    with pytest.raises(Unsupported, match="processes"):
        plan(make("nextflow", processes={"step": {"a": 1}}))
    with pytest.raises(Unsupported, match="version"):
        plan(make("nextflow", version=3))


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"kind": "wdl"}, "options.ica.kind"),
        ({"colour": "blue"}, "options.ica.colour"),
        ({"activation_code": "best"}, "options.ica.activation_code"),
        ({"storage_credentials": "my-creds"}, "options.ica.storage_credentials"),
        ({"storage": 3}, "options.ica.storage"),
    ],
)
def test_bad_options_name_the_field(options: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        plan(make("nextflow", options={"ica": options}))
    assert info.value.field == field


def test_activation_code_only_for_nextflow() -> None:
    with pytest.raises(Unsupported, match="activation code"):
        plan(make("cwl", options={"ica": {"kind": "cwl", "activation_code": "auto"}}))


@pytest.mark.parametrize(
    "source", ["relative/file.txt", "./r.fq", "../r.fq", "~/r.fq", "file:/r.fq"]
)
def test_local_sources_are_planned_for_upload(source: str) -> None:
    # DESIGN.md §11: local paths are uploaded before the launch (runhub.transfer),
    # and a launch that meets one unstaged refuses it.
    p = plan(make("nextflow", mounts=[{"source": source, "input": "fastqs"}]))
    assert p.mounts[0].kind == "local"
    with pytest.raises(Unsupported, match="not uploaded yet"):
        unstaged(p)


def test_s3_without_credentials_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="storage credentials") as info:
        plan(make("nextflow", mounts=[{"source": S3, "input": "fastqs"}]))
    assert info.value.field == "mounts.0.source"


@pytest.mark.parametrize("source", ["file.txt", "https://x.org/a", "ica://", "ica://p"])
def test_unusable_sources_are_spec_errors(source: str) -> None:
    with pytest.raises(SpecError) as info:
        plan(make("nextflow", mounts=[{"source": source, "input": "fastqs"}]))
    assert info.value.field == "mounts.0.source"


def test_plan_knows_what_needs_looking_up() -> None:
    p = plan(
        make(
            "nextflow",
            pipeline="dragen-germline",
            mounts=[{"source": "/fastqs/"}, {"source": "ica://other/x.txt", "input": "ref"}],
            options={"ica": {"storage": "Small", "project": PROJECT}},
        )
    )
    assert not p.pipeline_is_id
    assert p.needs_input_codes
    assert [m.source for m in p.data_paths] == ["/fastqs/", "/x.txt"]
    assert p.data_paths[1].project == "other"
    assert p.storage == "Small"
    assert p.project == PROJECT


def test_translation_is_pure() -> None:
    """The same spec and lookups always give the same body (safe to retry with a key)."""
    spec = make("nextflow-custom")
    first = translate(spec, resolved(spec), key="k", batch="b")
    second = translate(spec, resolved(spec), key="k", batch="b")
    assert first == second


# -- properties ------------------------------------------------------------------------

_scalars = st.one_of(
    st.text(max_size=20), st.integers(), st.booleans(), st.floats(allow_nan=False, width=32)
)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=4))
_names = st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != "")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_suggested_names_are_always_valid(text: str) -> None:
    suggestion = suggest_name(text)
    assert check_name(suggestion) == suggestion


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(list(KINDS)), params=st.dictionaries(_names, _values, max_size=6))
def test_any_named_parameters_give_a_valid_body(kind: str, params: dict[str, Any]) -> None:
    spec = make(kind, parameters=params)
    endpoint, payload = translate(spec, resolved(spec), key="k")
    assert_valid(endpoint, payload)
    if kind in ("nextflow", "cwl"):
        sent = payload["analysisInput"].get("parameters", [])
        assert [p["code"] for p in sent] == list(params)
        assert all(isinstance(v, str) for p in sent for v in p.get("multiValue", [p.get("value")]))
