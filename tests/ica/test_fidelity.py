"""Issue 12, ICA items 7-9, 11-13: runhub against the emulator's documented variance.

Each test shows a reading the authority allows (``Variance``) and that runhub keeps its
promise under it; each failed on the code before the fix (noted per test).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runhub_ica.emulator import IcaEmulator, Variance, seed

from runhub.client import Client
from runhub.errors import AmbiguousLaunch, NotFound, SpecError
from runhub.ledger import Ledger
from runhub.testing.emulator import Clock, FaultPlan, mock_transport

from .conftest import API_KEY, FAST, URL, created_bodies, make_client, plugins, spec

JSON_FORM = "dragen-somatic-json-4-3-6"
CWL_JSON_FORM = "bwa-mem-cwl-json-0-7-17"


def creates(app: IcaEmulator) -> list[str]:
    return [line for line in app.log if "/analysis:" in line and "search" not in line]


# -- 7: 409 while a keyed create is in flight ------------------------------------------


def test_a_create_still_in_flight_is_waited_for_not_repeated() -> None:
    # The answer is lost; the same key is then "still in progress" (409) twice before
    # ICA replays the stored answer. (The old emulator could not show this: it
    # replayed at once; the old transport reported the 409 as a failure.)
    app = IcaEmulator(Clock(), variance=Variance(in_flight_conflicts=2))
    faults = FaultPlan(only=["analysis:nextflow"])
    faults.push("drop-after")
    with make_client(app, faults) as client:
        status = client.launch(spec(), key="in-flight-1")
    assert len(app.analyses) == 1
    assert status.ref.id.endswith(app.analyses[0].id)
    assert len(creates(app)) == 4  # lost answer, 409, 409, replay


def test_a_create_that_never_settles_stays_attempted_and_is_recovered(tmp_path: Path) -> None:
    app = IcaEmulator(Clock(), variance=Variance(in_flight_conflicts=FAST.attempts))
    faults = FaultPlan(only=["analysis:nextflow"])
    faults.push("drop-after")
    ledger = Ledger(tmp_path / "ledger.sqlite")
    settings = {"server_url": URL, "x_api_key": API_KEY, "project_id": seed.PROJECT_ID}

    def client() -> Client:
        return Client(
            settings={"ica": settings},
            transport=mock_transport(app, faults),
            policy=FAST,
            plugins=plugins(),
            ledger=ledger,
        )

    with client() as c, pytest.raises(AmbiguousLaunch, match="still in progress"):
        c.launch(spec(), batch="p", row_key="A1")
    (row,) = ledger.runs(limit=0)
    assert row.ref is None
    assert row.state != "FAILED"
    app.forget_idempotency()
    with client() as c:
        status = c.launch(spec(), batch="p", row_key="A1")
    assert len(app.analyses) == 1  # found by its key tag, not created again
    assert status.ref.id.endswith(app.analyses[0].id)


# -- 8: recover trusts only an exact key tag, project and pipeline ----------------------


def test_recover_ignores_near_misses_of_a_loose_tag_filter(client: Client) -> None:
    # Old code adopted the first search result: with a filter that matches by word,
    # another launch's run.
    app = IcaEmulator(Clock(), variance=Variance(loose_tags=True))
    with make_client(app) as c:
        backend = c.backend("ica")
        other = c.launch(spec(), key="runhub-aaaa")
        found = c.driver(backend).run(backend.recover(spec(), "runhub-bbbb", since=0.0))
        assert found is None
        mine = c.driver(backend).run(backend.recover(spec(), "runhub-aaaa", since=0.0))
        assert mine is not None
        assert mine.ref == other.ref


def test_recover_ignores_a_run_of_another_pipeline_with_the_key(client: Client) -> None:
    app = IcaEmulator(Clock())
    with make_client(app) as c:
        backend = c.backend("ica")
        c.launch(spec(pipeline="fastqc-0-12", mounts=[{"source": "/fastqs/"}]), key="k-shared")
        found = c.driver(backend).run(backend.recover(spec(), "k-shared", since=0.0))
    assert found is None


def test_recover_reads_every_page() -> None:
    app = IcaEmulator(Clock(), variance=Variance(loose_tags=True))
    with make_client(app, page_size=2) as c:
        backend = c.backend("ica")
        for index in range(5):
            c.launch(spec(name=f"other {index}"), key=f"runhub-{index}")
        wanted = c.launch(spec(name="wanted"), key="runhub-wanted")
        found = c.driver(backend).run(backend.recover(spec(), "runhub-wanted", since=0.0))
    assert found is not None
    assert found.ref == wanted.ref


# -- 9: data path -> id ----------------------------------------------------------------


@pytest.mark.parametrize("variance", [Variance(), Variance(page_cap=2, parent_paths=True)])
def test_data_paths_match_exactly_on_any_page_under_either_path_reading(
    variance: Variance,
) -> None:
    # /cases/ holds four case variants of sample.csv; the exact one comes last, past
    # the first page. Old code read one page and compared details.path only.
    app = IcaEmulator(Clock(), variance=variance)
    by_path = {(r.project, r.path): r.id for r in app.world.data.values()}
    mounts = [
        {"source": "/cases/sample.csv", "input": "fastqs"},
        {"source": "/cases/both", "input": "ref_tar"},
        {"source": "/cases/both/", "input": "ref_tar"},
    ]
    with make_client(app) as c:
        c.launch(spec(mounts=mounts))
    inputs = {i["parameterCode"]: i["dataIds"] for i in app.created[0]["analysisInput"]["inputs"]}
    assert inputs["fastqs"] == [by_path[(seed.PROJECT_ID, "/cases/sample.csv")]]
    # no trailing "/" is a file, a trailing "/" a folder: each asked for by type
    assert inputs["ref_tar"] == [
        by_path[(seed.PROJECT_ID, "/cases/both")],
        by_path[(seed.PROJECT_ID, "/cases/both/")],
    ]


def test_a_folder_without_its_trailing_slash_is_still_found() -> None:
    app = IcaEmulator(Clock(), variance=Variance(page_cap=2, parent_paths=True))
    with make_client(app) as c:
        c.launch(spec(mounts=[{"source": "/fastqs", "input": "fastqs"},
                              {"source": "/reference/GRCh38.fa", "input": "ref_tar"}]))  # fmt: skip
    folder = next(r.id for r in app.world.data.values() if r.path == "/fastqs/")
    assert app.created[0]["analysisInput"]["inputs"][0]["dataIds"] == [folder]


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/fastqs/SampleC_S3_L001_R1_001.fastq.gz", "upload has not finished"),
        ("/archive/run-2019.bam", "archived"),
    ],
)
def test_unusable_data_is_refused_naming_the_file(path: str, why: str) -> None:
    app = IcaEmulator(Clock(), variance=True)
    with make_client(app) as c, pytest.raises(SpecError) as info:
        c.launch(spec(mounts=[{"source": path, "input": "fastqs"}]))
    assert path in str(info.value)
    assert why in str(info.value)
    assert info.value.field == "mounts.0.source"
    assert creates(app) == []


# -- 11: JSON input form ----------------------------------------------------------------


def test_a_json_form_pipeline_is_started_through_its_form() -> None:
    # Old code sent analysis:nextflow with analysisInput: ICA (and the emulator) refuse.
    app = IcaEmulator(Clock(), variance=True)
    run = spec(
        pipeline=JSON_FORM,
        mounts=[
            {"source": "/fastqs/", "input": "tumor_fastqs"},
            {"source": "/reference/GRCh38.fa", "input": "ref_tar", "path": "ref/"},
        ],
    )
    with make_client(app) as c:
        status = c.launch(run)
    assert creates(app) == [f"POST /ica/rest/api/projects/{seed.PROJECT_ID}/analysis:nextflowJson"]
    sent = app.created[0]
    assert "analysisInput" not in sent
    fields = {f["id"]: f for f in sent["inputFormValues"]["fields"]}
    assert fields["ref_tar"]["dataValues"][0]["mountPath"] == "ref/GRCh38.fa"
    assert fields["sample_ids"] == {"id": "sample_ids", "values": ["SampleA"]}
    assert fields["enable_cnv"] == {"id": "enable_cnv", "values": ["true"]}
    assert status.ref.id.endswith(app.analyses[0].id)


def test_a_json_form_cwl_pipeline_by_uuid() -> None:
    app = IcaEmulator(Clock())
    pipeline = next(p for p in seed.PIPELINES if p.code == CWL_JSON_FORM)
    run = spec(
        pipeline=pipeline.id,
        mounts=[{"source": "/fastqs/", "input": "reads"}, {"source": "/reference/GRCh38.fa"}],
        parameters={"threads": 4},
        options={"ica": {"kind": "cwl"}},
    )
    with make_client(app) as c, pytest.raises(SpecError, match=r"mounts\.1\.input"):
        c.launch(run)  # two data inputs: each mount says which it feeds
    run = run.with_overrides({"mounts.1.input": "reference"})
    with make_client(app) as c:
        c.launch(run)
    assert creates(app)[-1].endswith("/analysis:cwlJson")


def test_what_a_json_form_cannot_take_is_a_spec_error_before_any_create() -> None:
    app = IcaEmulator(Clock())
    run = spec(
        pipeline=JSON_FORM,
        mounts=[{"source": "/fastqs/", "input": "tumor_fastqs"}],
        options={"ica": {"activation_code": "auto"}},
    )
    with make_client(app) as c, pytest.raises(SpecError) as info:
        c.launch(run)
    assert info.value.field == "options.ica.activation_code"
    assert creates(app) == []
    assert not any("activationCodes" in line for line in app.log)


# -- 12: custom-input kinds -------------------------------------------------------------


def test_custom_input_mounts_end_with_the_data_name() -> None:
    # Old code mounted a data id given without a path at ".../fil.<id>" (no file name).
    app = IcaEmulator(Clock())
    genome = next(r for r in app.world.data.values() if r.path == "/reference/GRCh38.fa")
    run = spec(
        pipeline="nf-core-rnaseq-3-14-0",
        mounts=[{"source": genome.id, "input": "input"}],
        parameters={"outdir": "out"},
        options={"ica": {"kind": "nextflow-custom"}},
    )
    with make_client(app) as c:
        c.launch(run)
    ai = app.created[0]["analysisInput"]
    assert ai["mounts"] == [{"dataId": genome.id, "mountPath": "GRCh38.fa"}]
    assert json.loads(ai["customInput"])["input"] == "GRCh38.fa"


def test_an_s3_source_without_a_path_is_a_spec_error_for_custom_kinds() -> None:
    from runhub_ica.translate import plan

    run = spec(
        pipeline="nf-core-rnaseq-3-14-0",
        mounts=[{"source": "s3://bucket/reads.fq.gz", "input": "input"}],
        options={"ica": {"kind": "nextflow-custom",
                         "storage_credentials": "11111111-2222-4333-8444-555555555555"}},
    )  # fmt: skip
    with pytest.raises(SpecError) as info:
        plan(run)
    assert info.value.field == "mounts.0.path"


def test_output_paths_come_from_names_not_the_machine_mount_path() -> None:
    app = IcaEmulator(Clock(), variance=Variance(machine_mount_paths=True))
    with make_client(app) as c:
        ref = c.launch(spec()).ref
        app.clock.advance(60)
        outputs = c.outputs(ref)
        with_urls = c.download_urls(ref, outputs)
    paths = [o.path for o in outputs]
    assert not any(p.startswith("/") or p.startswith("/ces") for p in paths)
    root = paths[0]
    assert f"{root}results/" in paths
    assert all(o.url for o in with_urls if o.kind == "file")


# -- 13: names, keys, project names -----------------------------------------------------


def test_a_run_name_with_a_trailing_newline_is_refused_before_any_request(
    app: IcaEmulator,
) -> None:
    with make_client(app) as c, pytest.raises(SpecError) as info:
        c.launch(spec(name="sample A\n"))
    assert info.value.field == "name"
    assert app.log == []


def test_a_key_longer_than_255_characters_is_refused(app: IcaEmulator) -> None:
    with make_client(app) as c, pytest.raises(SpecError, match="255"):
        c.launch(spec(), key="k" * 256)
    assert app.log == []


@pytest.mark.parametrize("variance", [Variance(), Variance(page_cap=2)])
def test_the_project_may_be_given_by_its_exact_name(variance: Variance) -> None:
    # "runhub-demo-archive" also matches the search, and comes first; with a page cap
    # of 2 the exact name is on page two. Old code put the name in the URL.
    app = IcaEmulator(Clock(), variance=variance)
    with make_client(app, project_id=seed.PROJECT_NAME) as c:
        status = c.launch(spec())
        # a bare reference uses the configured project: the name, resolved
        assert c.status("ica:" + status.ref.id.split("/")[1]).ref.id == status.ref.id
    assert status.ref.id.startswith(seed.PROJECT_ID + "/")


def test_hidden_projects_are_found_by_name() -> None:
    app = IcaEmulator(Clock(), variance=Variance(page_cap=2))
    mounts = [{"source": f"ica://{seed.HIDDEN_PROJECT_NAME}/old/reads.fastq.gz", "input": "reads"}]
    with make_client(app) as c:
        c.launch(spec(pipeline="fastqc-0-12", mounts=mounts))
    listed = [line for line in app.log if line.endswith("/api/projects")]
    assert listed  # looked up by name
    reads = next(r.id for r in app.world.data.values() if r.path == "/old/reads.fastq.gz")
    assert app.created[0]["analysisInput"]["inputs"][0]["dataIds"] == [reads]


def test_an_unknown_or_ambiguous_project_name(app: IcaEmulator) -> None:
    with make_client(app, project_id="runhub-dem") as c, pytest.raises(NotFound) as info:
        c.launch(spec())
    assert seed.PROJECT_NAME in info.value.candidates
    app.world.projects["00000000-0000-4000-8000-00000000abcd"] = seed.PROJECT_NAME
    from runhub.errors import ConfigError

    with make_client(app, project_id=seed.PROJECT_NAME) as c, pytest.raises(ConfigError) as err:
        c.launch(spec())
    assert "2 ICA projects are named" in str(err.value)
    assert created_bodies(app) == 0
