"""End to end against the emulator, in-process, through the public Client."""

from __future__ import annotations

import json

import pytest
from runhub_ica.emulator import IcaEmulator, seed

from runhub.backend import RunRef
from runhub.client import Client
from runhub.errors import (
    AmbiguousLaunch,
    AuthError,
    ConfigError,
    NotFound,
    PlatformError,
    SpecError,
)
from runhub.state import RunState
from runhub.testing.emulator import Clock, FaultPlan

from .conftest import API_KEY, BWA, FASTQC, REF_TAR, RNASEQ, make_client, spec


def test_launch_wait_outputs(client: Client, app: IcaEmulator, clock: Clock) -> None:
    launched = client.launch(spec(), batch="b-1")
    assert launched.state is RunState.PENDING
    assert launched.native == "REQUESTED"
    assert str(launched.ref) == f"ica:{seed.PROJECT_ID}/{app.analyses[0].id}"
    assert launched.ref.batch == "b-1"
    assert launched.name == "SampleA germline"
    clock.advance(60)
    final = client.wait(launched.ref, timeout=5)
    assert final.state is RunState.SUCCEEDED
    assert final.started is not None
    assert final.ended is not None
    outputs = client.outputs(launched.ref)
    files = [o for o in outputs if o.kind == "file"]
    root = outputs[0].path  # the output folder, by name: paths come from the names
    assert root.endswith("/")
    assert outputs[0].kind == "folder"
    assert {o.path for o in outputs} >= {root, f"{root}results/"}
    assert all(o.path.startswith(root) for o in outputs)
    assert all(o.id and o.id.startswith("fil.") for o in files)
    assert all(isinstance(o.size, int) and o.size > 0 for o in files)
    with_urls = client.download_urls(launched.ref, outputs)
    assert all(o.url for o in with_urls if o.kind == "file")
    assert all(o.url is None for o in with_urls if o.kind == "folder")


def test_states_progress_through_the_lifecycle(
    client: Client, app: IcaEmulator, clock: Clock
) -> None:
    ref = client.launch(spec()).ref
    seen = []
    for _ in range(12):
        status = client.status(ref)
        seen.append((status.native, status.state))
        clock.advance(1.0)
    natives = list(dict.fromkeys(n for n, _ in seen))
    assert natives == [
        "REQUESTED", "QUEUED", "INITIALIZING", "PREPARING_INPUTS", "IN_PROGRESS",
        "GENERATING_OUTPUTS", "SUCCEEDED",
    ]  # fmt: skip
    assert dict(seen)["GENERATING_OUTPUTS"] is RunState.FINALIZING


def test_cancel_goes_through_aborting(client: Client, app: IcaEmulator, clock: Clock) -> None:
    ref = client.launch(spec()).ref
    clock.advance(4.5)
    cancelled = client.cancel(ref)
    assert (cancelled.native, cancelled.state) == ("ABORTING", RunState.CANCELLING)
    clock.advance(5)
    final = client.status(ref)
    assert (final.native, final.state) == ("ABORTED", RunState.CANCELLED)
    assert client.outputs(ref) == []
    abort = [line for line in app.log if line.endswith(":abort")]
    assert len(abort) == 1


def test_scripted_failure(client: Client, clock: Clock) -> None:
    ref = client.launch(spec(parameters={"mode": seed.FAIL_VALUE})).ref
    clock.advance(60)
    final = client.status(ref)
    assert (final.native, final.state) == ("FAILED", RunState.FAILED)
    assert final.message


def test_every_kind_launches(client: Client, app: IcaEmulator, clock: Clock) -> None:
    custom = client.launch(
        spec(
            pipeline=RNASEQ,
            mounts=[{"source": "/samplesheets/rnaseq_samplesheet.csv", "input": "input"}],
            parameters={"genome": "GRCh38", "skip_trimming": True},
            options={"ica": {"kind": "nextflow-custom", "storage": "Large"}},
        )
    )
    cwl = client.launch(
        spec(
            pipeline=BWA,
            mounts=[{"source": "/fastqs/", "input": "reads"},
                    {"source": "/reference/GRCh38.fa", "input": "reference"}],
            options={"ica": {"kind": "cwl"}},
        )
    )  # fmt: skip
    cwl_json = client.launch(
        spec(
            pipeline=BWA,
            mounts=[{"source": "/reference/GRCh38.fa", "input": "reference"}],
            parameters={"threads": 4},
            options={"ica": {"kind": "cwl-json"}},
        )
    )
    assert [a.pipeline.code for a in app.analyses] == [RNASEQ, BWA, BWA]
    assert app.analyses[0].storage == "Large"
    clock.advance(60)
    assert {s.state for s in client.statuses([custom.ref, cwl.ref, cwl_json.ref])} == {
        RunState.SUCCEEDED
    }
    custom_input = json.loads(app.created[0]["analysisInput"]["customInput"])
    assert custom_input == {
        "genome": "GRCh38",
        "skip_trimming": True,
        "input": "rnaseq_samplesheet.csv",
    }


# -- resolution ------------------------------------------------------------------------


def test_code_storage_and_paths_are_resolved(client: Client, app: IcaEmulator) -> None:
    client.launch(spec(options={"ica": {"storage": "small"}}))  # case-insensitive fallback
    sent = app.created[-1]
    pipeline = next(p for p in seed.PIPELINES if p.code == "dragen-germline-4-3-6")
    assert sent["pipelineId"] == pipeline.id
    assert sent["analysisStorageId"] == seed.STORAGES["Small"]
    inputs = {i["parameterCode"]: i["dataIds"] for i in sent["analysisInput"]["inputs"]}
    by_path = {r.path: r.id for r in app.world.data.values()}
    assert inputs == {"fastqs": [by_path["/fastqs/"]], "ref_tar": [by_path[REF_TAR]]}


def test_folder_path_without_trailing_slash(client: Client, app: IcaEmulator) -> None:
    client.launch(spec(pipeline=FASTQC, mounts=[{"source": "/fastqs"}]))
    (entry,) = app.created[-1]["analysisInput"]["inputs"]
    assert entry["parameterCode"] == "reads"  # the pipeline's only data input
    assert entry["dataIds"][0].startswith("fol.")


def test_ica_uri_by_project_name_and_id(client: Client, app: IcaEmulator) -> None:
    client.launch(
        spec(mounts=[{"source": "ica://runhub-demo/fastqs/", "input": "fastqs"},
                     {"source": f"ica://{seed.OTHER_PROJECT_ID}/genomes/GRCh38/genome.fa",
                      "input": "ref_tar", "path": "ref/genome.fa"}])
    )  # fmt: skip
    inputs = app.created[-1]["analysisInput"]["inputs"]
    genome = next(r for r in app.world.data.values() if r.path == "/genomes/GRCh38/genome.fa")
    assert inputs[1]["mounts"] == [{"dataId": genome.id, "mountPath": "ref/genome.fa"}]


def test_pipeline_uuid_skips_the_listing(client: Client, app: IcaEmulator) -> None:
    pipeline = seed.PIPELINES[0]
    client.launch(spec(pipeline=pipeline.id))
    assert not any(line.endswith("/pipelines") for line in app.log)


def test_lookups_are_cached_per_backend(client: Client, app: IcaEmulator) -> None:
    for index in range(5):
        client.launch(spec(name=f"sample {index}", options={"ica": {"storage": "Small"}}))
    gets = [line for line in app.log if line.startswith("GET")]
    assert len([g for g in gets if g.endswith("/pipelines")]) == 1
    assert len([g for g in gets if g.endswith("/analysisStorages")]) == 1
    assert len([g for g in gets if g.endswith("/data")]) == 2  # two distinct paths
    assert len(app.analyses) == 5


def test_unknown_pipeline_code_lists_near_matches(client: Client) -> None:
    with pytest.raises(NotFound) as info:
        client.launch(spec(pipeline="dragen-germline"))
    assert "dragen-germline-4-3-6" in info.value.candidates
    assert "did you mean" in str(info.value)


def test_unknown_storage_lists_names(client: Client) -> None:
    with pytest.raises(NotFound) as info:
        client.launch(spec(options={"ica": {"storage": "Smal"}}))
    assert "Small" in info.value.candidates


def test_unknown_path_is_not_found(client: Client, app: IcaEmulator) -> None:
    with pytest.raises(NotFound, match=r"/fastq/missing\.fastq\.gz"):
        client.launch(spec(mounts=[{"source": "/fastq/missing.fastq.gz", "input": "fastqs"}]))
    with pytest.raises(NotFound) as info:
        client.launch(spec(mounts=[{"source": "/FASTQS/", "input": "fastqs"}]))
    assert "/fastqs/" in info.value.candidates  # same path, other case: a near match
    with pytest.raises(NotFound, match="no ICA project named"):
        client.launch(spec(mounts=[{"source": "ica://nope/fastqs/", "input": "fastqs"}]))
    assert app.analyses == []


def test_missing_input_with_several_pipeline_inputs(client: Client, app: IcaEmulator) -> None:
    with pytest.raises(SpecError) as info:
        client.launch(spec(mounts=[{"source": "/fastqs/"}]))
    assert info.value.field == "mounts.0.input"
    assert "fastqs, ref_tar" in str(info.value)
    assert app.analyses == []


def test_kind_must_match_pipeline_language(client: Client) -> None:
    with pytest.raises(SpecError, match="CWL pipeline") as info:
        client.launch(spec(pipeline=BWA, mounts=[]))
    assert info.value.field == "options.ica.kind"


def test_activation_code_auto(client: Client, app: IcaEmulator) -> None:
    client.launch(spec(options={"ica": {"activation_code": "auto"}}))
    assert app.created[-1]["activationCodeDetailId"] == seed.ACTIVATION_CODE_ID


def test_outputs_path_and_tags(client: Client, app: IcaEmulator, clock: Clock) -> None:
    ref = client.launch(
        spec(outputs={"path": "/results/sampleA", "on_exist": "skip"}, tags={"subject": "S1"}),
        batch="b9",
    ).ref
    sent = app.created[-1]
    assert sent["analysisOutput"][0]["targetPath"] == "/results/sampleA/"
    assert sent["analysisOutput"][0]["actionOnExist"] == "SKIP"
    assert sent["tags"]["userTags"] == ["subject=S1"]
    assert "runhub-batch:b9" in sent["tags"]["technicalTags"]
    clock.advance(60)
    client.outputs(ref)
    assert any(r.path.startswith("/results/sampleA/") for r in app.world.data.values())


# -- errors ----------------------------------------------------------------------------


def test_problem_json_is_surfaced_with_its_code(client: Client) -> None:
    with pytest.raises(PlatformError) as info:
        client.launch(spec(mounts=[{"source": "/fastqs/", "input": "bam"}]))
    err = info.value
    assert err.status == 400
    assert err.code == "ICA_EMU_INPUT"
    assert err.parameters == {"parameterCode": "bam"}
    assert "ICA_EMU_INPUT" in str(err)


def test_bad_credentials_are_auth_errors(clock: Clock) -> None:
    app = IcaEmulator(clock, api_keys={"the-right-key"})
    with make_client(app) as client, pytest.raises(AuthError) as info:
        client.launch(spec())
    assert info.value.status == 401
    assert API_KEY not in str(info.value)
    assert "ICAV2_X_API_KEY" in str(info.value)


def test_unknown_analysis_is_not_found(client: Client) -> None:
    with pytest.raises(NotFound) as info:
        client.status(f"ica:{seed.PROJECT_ID}/00000000-0000-4000-8000-000000000000")
    assert info.value.code == "ICA_EMU_NOT_FOUND"


def test_missing_settings_are_config_errors(app: IcaEmulator) -> None:
    with make_client(app, x_api_key=None) as client:
        client.validate(spec())  # offline checks need no credentials
        with pytest.raises(ConfigError, match=r"ICAV2_X_API_KEY.*ICAV2_ACCESS_TOKEN"):
            client.launch(spec())
    with (
        make_client(app, project_id=None) as client,
        pytest.raises(ConfigError, match="ICAV2_PROJECT_ID"),
    ):
        client.launch(spec())
    assert app.log == []


def test_project_from_the_spec(app: IcaEmulator) -> None:
    with make_client(app, project_id=None) as client:
        status = client.launch(spec(options={"ica": {"project": seed.PROJECT_ID}}))
    assert status.ref.id.startswith(seed.PROJECT_ID + "/")


def test_bearer_token(app: IcaEmulator) -> None:
    with make_client(app, x_api_key=None, access_token="jwt-abc") as client:
        assert client.launch(spec()).state is RunState.PENDING


# -- idempotency -----------------------------------------------------------------------


def test_dropped_create_is_replayed_not_duplicated(app: IcaEmulator) -> None:
    faults = FaultPlan(only=["analysis:nextflow"])
    faults.push("drop-after")
    with make_client(app, faults) as client:
        status = client.launch(spec(), key="launch-key-1")
    assert faults.counts["drop-after"] == 1
    assert len(app.analyses) == 1
    assert status.ref.id.endswith(app.analyses[0].id)
    assert created_posts(app) == 2  # the retry reached the server and was replayed


def created_posts(app: IcaEmulator) -> int:
    return sum(1 for line in app.log if line.endswith("/analysis:nextflow"))


def test_same_key_same_body_replays(client: Client, app: IcaEmulator) -> None:
    first = client.launch(spec(), key="k-1")
    second = client.launch(spec(), key="k-1")
    assert first.ref == second.ref
    assert len(app.analyses) == 1


def test_same_key_other_body_is_422(client: Client, app: IcaEmulator) -> None:
    client.ledger = None  # the platform's answer (a ledger refuses the reused key first)
    client.launch(spec(), key="k-2")
    with pytest.raises(PlatformError) as info:
        client.launch(spec(name="another name"), key="k-2")
    assert (info.value.status, info.value.code) == (422, "ICA_EMU_IDEMPOTENCY_MISMATCH")
    assert len(app.analyses) == 1


def test_key_in_flight_is_409_retried_then_ambiguous(client: Client, app: IcaEmulator) -> None:
    # 409 = the first request with this key is still in progress (spec text on every
    # keyed create): the outcome is unknown, never "failed, nothing created".
    path = f"/ica/rest/api/projects/{seed.PROJECT_ID}/analysis:nextflow"
    app.begin_in_flight(path, "k-3", app.user_of(API_KEY))
    with pytest.raises(AmbiguousLaunch) as info:
        client.launch(spec(), key="k-3")
    assert "still in progress" in str(info.value)
    assert app.log.count(f"POST {path}") == client.policy.attempts
    assert app.analyses == []


def test_errors_are_not_stored_so_the_key_can_be_retried(client: Client, app: IcaEmulator) -> None:
    with pytest.raises(PlatformError):
        client.launch(spec(mounts=[{"source": "/fastqs/", "input": "bam"}]), key="k-4")
    client.launch(spec(mounts=[{"source": "/fastqs/", "input": "bam"}]).with_overrides(
        {"mounts.0.input": "fastqs"}), key="k-4")  # fmt: skip
    assert len(app.analyses) == 1


# -- batch status ----------------------------------------------------------------------


def test_batch_statuses_use_one_search_per_batch(
    client: Client, app: IcaEmulator, clock: Clock
) -> None:
    refs = [client.launch(spec(name=f"s{i}"), batch="big").ref for i in range(30)]
    other = client.launch(spec(name="other"), batch="small").ref
    lone = client.launch(spec(name="lone")).ref
    clock.advance(60)
    before = len(app.log)
    got = client.statuses([*refs, other, lone])
    calls = app.log[before:]
    assert [s.ref for s in got] == [*refs, other, lone]
    assert all(s.state is RunState.SUCCEEDED for s in got)
    assert sum(1 for c in calls if c.endswith("analysis:search")) == 2
    assert sum(1 for c in calls if c.startswith("GET")) == 1  # the run without a batch


def test_batch_search_pages_with_the_cursor(app: IcaEmulator, clock: Clock) -> None:
    with make_client(app, page_size=7) as client:
        refs = [client.launch(spec(name=f"s{i}"), batch="paged").ref for i in range(20)]
        before = len(app.log)
        got = client.statuses(refs)
    assert len(got) == 20
    assert sum(1 for c in app.log[before:] if c.endswith("analysis:search")) == 3


def test_ref_without_project_uses_the_settings_project(client: Client, app: IcaEmulator) -> None:
    client.launch(spec())
    status = client.status(RunRef("ica", app.analyses[0].id))
    assert status.ref.id == f"{seed.PROJECT_ID}/{app.analyses[0].id}"


def test_dry_run_stops_before_the_create(client: Client, app: IcaEmulator) -> None:
    dry = client.dry_run(spec(options={"ica": {"activation_code": "auto", "storage": "Small"}}))
    assert dry.request is not None
    assert dry.request.url.path.endswith("/analysis:nextflow")
    assert app.analyses == []
    assert any(line.endswith("findBestMatchingForNextflow") for line in app.log)
    assert API_KEY not in dry.render()
