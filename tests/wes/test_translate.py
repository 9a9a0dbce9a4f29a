"""RunSpec -> the WES ``POST /runs`` form, without HTTP (the exchange fed by hand)."""

from __future__ import annotations

import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("runhub_wes", reason="runhub-wes is not installed (pip install -e plugins/wes)")

from runhub_wes.backend import WesBackend
from runhub_wes.settings import WesSettings
from runhub_wes.translate import translate

from runhub.errors import NotFound, SpecError
from runhub.forms import FormPart, parse_multipart
from runhub.spec import RunSpec
from runhub.state import RunState

from .conftest import EXAMPLES, WORKFLOWS

ECHO = (EXAMPLES / "echo.cwl").as_uri()
INFO = {"workflow_type_versions": {"CWL": {"workflow_type_version": ["v1.0", "v1.2"]}}}


def backend(**settings: Any) -> WesBackend:
    return WesBackend(WesSettings(url="https://wes.test/ga4gh/wes/v1", **settings))


def drive_launch(
    spec: RunSpec, *, info: Any = INFO, key: str = "key-1", batch: str | None = None, **kw: Any
) -> tuple[list[httpx.Request], Any]:
    """Run a launch exchange: service-info answered with ``info``, the POST with a run id."""
    exchange: Generator[httpx.Request, httpx.Response, Any] = backend(**kw).launch(
        spec, key, batch=batch
    )
    sent = [next(exchange)]
    assert sent[0].url.path.endswith("/service-info")
    try:
        sent.append(exchange.send(httpx.Response(200, json=info, request=sent[0])))
        exchange.send(httpx.Response(200, json={"run_id": "r-1"}, request=sent[1]))
    except StopIteration as done:
        return sent, done.value
    raise AssertionError("the launch sent more than one POST")


def form_of(request: httpx.Request) -> dict[str, Any]:
    parts = parse_multipart(request.headers["Content-Type"], request.content)
    fields: dict[str, Any] = {p.field: p.text for p in parts if p.filename is None}
    fields["files"] = {p.filename: p.content for p in parts if p.filename is not None}
    return fields


def test_a_local_workflow_is_attached_and_named_by_its_file_name() -> None:
    spec = RunSpec(pipeline=ECHO, name="hello", parameters={"message": "hi", "n": 3})
    sent, status = drive_launch(spec, batch="b-1")
    post = sent[1]
    assert (post.method, str(post.url)) == ("POST", "https://wes.test/ga4gh/wes/v1/runs")
    assert post.headers["Content-Type"].startswith("multipart/form-data")
    form = form_of(post)
    assert form["workflow_url"] == "echo.cwl"
    assert form["workflow_type"] == "CWL"
    assert form["workflow_type_version"] == "v1.2"  # read from the file's cwlVersion
    assert json.loads(form["workflow_params"]) == {"message": "hi", "n": 3}  # types kept
    assert json.loads(form["tags"]) == {
        "runhub_name": "hello",
        "runhub_key": "key-1",
        "runhub_batch": "b-1",
    }
    assert form["files"] == {"echo.cwl": (EXAMPLES / "echo.cwl").read_bytes()}
    assert "workflow_engine" not in form
    assert str(status.ref) == "wes:r-1"
    assert status.ref.batch == "b-1"
    assert status.state is RunState.PENDING
    assert status.name == "hello"


def test_a_url_workflow_is_sent_as_workflow_url_with_nothing_attached() -> None:
    spec = RunSpec(
        pipeline="https://example.org/wf/align.cwl",
        parameters={"x": 1},
        options={"wes": {"workflow_type_version": "v1.0"}},
    )
    form = form_of(drive_launch(spec)[0][1])
    assert form["workflow_url"] == "https://example.org/wf/align.cwl"
    assert (form["workflow_type"], form["workflow_type_version"]) == ("CWL", "v1.0")
    assert form["files"] == {}


def test_the_one_version_a_server_lists_is_used_when_nothing_says_which() -> None:
    spec = RunSpec(
        pipeline="https://example.org/main.wdl.txt", options={"wes": {"workflow_type": "WDL"}}
    )
    info = {
        "workflow_type_versions": {"wdl": {"workflow_type_version": ["1.0"]}}
    }  # toil: lower case
    form = form_of(drive_launch(spec, info=info)[0][1])
    assert (form["workflow_type"], form["workflow_type_version"]) == ("WDL", "1.0")


def test_options_give_type_engine_and_engine_parameters() -> None:
    spec = RunSpec(
        pipeline=ECHO,
        options={
            "wes": {
                "workflow_type_version": "v1.0",
                "workflow_engine": "cwltool",
                "workflow_engine_version": "3.1",
                "workflow_engine_parameters": {"--parallel": True, "--cores": 2},
            }
        },
    )
    info = {**INFO, "workflow_engine_versions": {"cwltool": {"workflow_engine_version": ["3.1"]}}}
    form = form_of(drive_launch(spec, info=info)[0][1])
    assert form["workflow_type_version"] == "v1.0"
    assert form["workflow_engine"] == "cwltool"
    assert form["workflow_engine_version"] == "3.1"
    assert json.loads(form["workflow_engine_parameters"]) == {"--parallel": "true", "--cores": "2"}


def test_the_settings_engine_is_the_default() -> None:
    info = {**INFO, "workflow_engine_versions": {"cwltool": "3.3"}}  # wes-service: plain text
    form = form_of(drive_launch(RunSpec(pipeline=ECHO), info=info, engine="cwltool")[0][1])
    assert form["workflow_engine"] == "cwltool"


def test_mounts_feed_inputs_local_files_attached_urls_as_is(tmp_path: Path) -> None:
    reads = tmp_path / "reads.fq"
    reads.write_text("@r1\nACGT\n+\n!!!!\n")
    spec = RunSpec.from_data(
        {
            "pipeline": (WORKFLOWS / "count.cwl").as_uri(),
            "mounts": [
                {"source": reads.as_uri(), "input": "reads"},
                {"source": "s3://bucket/ref.fa", "input": "refs"},
                {"source": "https://x.org/more.fa", "input": "refs", "path": "ignored.fa"},
                {"source": "https://x.org/index/", "input": "index"},
                {"source": "/data/on/the/server.bam", "input": "bam"},
            ],
        }
    )
    form = form_of(drive_launch(spec)[0][1])
    assert json.loads(form["workflow_params"]) == {
        "reads": {"class": "File", "location": "reads.fq"},
        "refs": [
            {"class": "File", "location": "s3://bucket/ref.fa"},
            {"class": "File", "location": "https://x.org/more.fa"},
        ],
        "index": {"class": "Directory", "location": "https://x.org/index/"},
        "bam": {"class": "File", "location": "file:///data/on/the/server.bam"},
    }
    assert set(form["files"]) == {"count.cwl", "reads.fq"}
    assert form["files"]["reads.fq"] == reads.read_bytes()


def test_a_mount_path_names_the_attached_file_and_other_languages_get_plain_text(
    tmp_path: Path,
) -> None:
    (tmp_path / "main.wdl").write_text("version 1.0\nworkflow w {}\n")
    (tmp_path / "r.txt").write_text("x")
    spec = RunSpec.from_data(
        {
            "pipeline": (tmp_path / "main.wdl").as_uri(),
            "mounts": [
                {"source": (tmp_path / "r.txt").as_uri(), "input": "w.r", "path": "in/r.txt"}
            ],
        }
    )
    info = {"workflow_type_versions": {"WDL": {"workflow_type_version": ["1.0"]}}}
    form = form_of(drive_launch(spec, info=info)[0][1])
    assert (form["workflow_type"], form["workflow_type_version"]) == ("WDL", "1.0")
    assert json.loads(form["workflow_params"]) == {"w.r": "in/r.txt"}
    assert set(form["files"]) == {"main.wdl", "in/r.txt"}


@pytest.mark.parametrize(
    ("data", "field", "phrase"),
    [
        ({"parameters": ["a", "b"]}, "parameters", "named parameters only"),
        ({"processes": {"step": {"a": 1}}}, "processes", "per-process"),
        ({"version": 2}, "version", "no pipeline versions"),
        ({"outputs": {"path": "/x"}}, "outputs", "choose where outputs go"),
        ({"tags": {"runhub_key": "x"}}, "tags.runhub_key", "runhub's own"),
        ({"mounts": [{"source": "s3://b/x"}]}, "mounts.0.input", "needs input"),
        (
            {"parameters": {"reads": "x"}, "mounts": [{"source": "s3://b/x", "input": "reads"}]},
            "mounts.0.input",
            "both a mount and a parameter",
        ),
        ({"options": {"wes": {"engine": "x"}}}, "options.wes.engine", "unknown option"),
        (
            {"options": {"wes": {"workflow_engine_version": "1"}}},
            "options.wes.workflow_engine",
            "needs workflow_engine",
        ),
        ({"pipeline": "./no/such/file.cwl"}, "pipeline", "no such file"),
        ({"pipeline": "https://x.org/wf"}, "options.wes.workflow_type", "workflow language"),
        ({"mounts": [{"source": "./nothing-here.fq", "input": "r"}]}, "mounts.0.source", "no such"),
    ],
)
def test_what_wes_cannot_express_is_a_spec_error_naming_the_field(
    data: dict[str, Any], field: str, phrase: str
) -> None:
    spec = RunSpec.from_data({"pipeline": ECHO, **data})
    with pytest.raises(SpecError) as err:
        backend().validate(spec)
    assert err.value.field == field
    assert phrase in str(err.value)


def test_a_folder_is_refused_and_so_are_two_files_of_one_name(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    for folder in ("a", "b"):
        (tmp_path / folder / "x.fq").write_text(folder)
    folder_mount = RunSpec.from_data(
        {"pipeline": ECHO, "mounts": [{"source": (tmp_path / "a").as_uri(), "input": "d"}]}
    )
    with pytest.raises(SpecError, match="is a folder"):
        translate(folder_mount)
    twins = RunSpec.from_data(
        {
            "pipeline": ECHO,
            "mounts": [
                {"source": (tmp_path / "a" / "x.fq").as_uri(), "input": "r"},
                {"source": (tmp_path / "b" / "x.fq").as_uri(), "input": "r"},
            ],
        }
    )
    with pytest.raises(SpecError, match=r"both be called 'x\.fq'"):
        translate(twins)


def test_a_server_that_does_not_run_the_language_or_version_is_refused_before_the_post() -> None:
    spec = RunSpec(pipeline=ECHO)
    exchange = backend().launch(spec, "k")
    first = next(exchange)
    info = {"workflow_type_versions": {"WDL": {"workflow_type_version": ["1.0"]}}}
    with pytest.raises(SpecError, match="does not run CWL workflows"):
        exchange.send(httpx.Response(200, json=info, request=first))
    exchange = backend().launch(spec, "k")
    first = next(exchange)
    info = {"workflow_type_versions": {"CWL": {"workflow_type_version": ["v1.0"]}}}
    with pytest.raises(SpecError, match=r"runs CWL v1\.0, not v1\.2") as err:
        exchange.send(httpx.Response(200, json=info, request=first))
    assert err.value.field == "options.wes.workflow_type_version"


def test_a_server_without_service_info_is_launched_on_unchecked() -> None:
    exchange = backend().launch(RunSpec(pipeline=ECHO), "k")
    next(exchange)
    # the driver throws the mapped error answer into the exchange at its yield
    post = exchange.throw(NotFound("GET /service-info -> 404 no"))
    assert post.method == "POST"
    assert form_of(post)["workflow_type_version"] == "v1.2"


def test_attachment_parts_are_named_for_the_spec_form_field() -> None:
    post = drive_launch(RunSpec(pipeline=ECHO))[0][1]
    parts: list[FormPart] = parse_multipart(post.headers["Content-Type"], post.content)
    files = [p for p in parts if p.filename is not None]
    assert [p.field for p in files] == ["workflow_attachment"]
