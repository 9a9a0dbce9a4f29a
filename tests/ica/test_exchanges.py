"""The exchanges, driven by hand with canned answers: exact requests, headers, markings."""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from typing import Any

import httpx
import pytest
from runhub_ica.backend import IcaBackend
from runhub_ica.settings import IcaSettings

from runhub.backend import RunRef, is_idempotent, is_read_only
from runhub.errors import AuthError, NotFound, PlatformError
from runhub.gather import Together

from .conftest import spec

PROJECT = "0d4f6a1e-6b1c-4a8e-9a51-2f3c5b7e8d90"
PIPELINE = "c5e1a2b3-4d5e-4f6a-8b7c-9d0e1f2a3b01"
BASE = f"https://ica.illumina.com/ica/rest/api/projects/{PROJECT}"
V3 = "application/vnd.illumina.v3+json"
V4 = "application/vnd.illumina.v4+json"
KEY = "secret-key-0001"
Answer = Callable[[httpx.Request], tuple[int, Any]]


def backend(**settings: Any) -> IcaBackend:
    values = {"x_api_key": KEY, "project_id": PROJECT, **settings}
    return IcaBackend(IcaSettings(**values))


def analysis(ident: str = "a-1", status: str = "REQUESTED") -> dict[str, Any]:
    return {"id": ident, "status": status, "userReference": "n",
            "timeCreated": "2026-11-23T03:00:00Z", "pipeline": {"id": PIPELINE}}  # fmt: skip


def drive(
    gen: Generator[httpx.Request, httpx.Response, Any], answer: Answer
) -> tuple[Any, list[httpx.Request]]:
    """Run an exchange, answering each request with ``answer``; returns (result, requests).

    ``POST /api/tokens`` is refused (404) and left out of the requests: these tests are
    about the operations; test_auth.py covers the token exchange.
    """
    sent: list[httpx.Request] = []

    def respond(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/api/tokens"):
            return problem(404, "ICA_EMU_NOT_FOUND")
        sent.append(request)
        status, body = answer(request)
        return httpx.Response(status, json=body, request=request)

    try:
        request = next(gen)
        while True:
            if isinstance(request, Together):  # gathered lookups: one at a time
                request = gen.send(None)
            else:
                request = gen.send(respond(request))
    except StopIteration as stop:
        return stop.value, sent


def test_launch_requests_and_headers() -> None:
    def answer(request: httpx.Request) -> tuple[int, Any]:
        path = request.url.path
        if path.endswith("/pipelines"):
            items = [{"pipeline": {"id": PIPELINE, "code": "dragen-germline-4-3-6",
                                   "language": "NEXTFLOW"}}]  # fmt: skip
            return 200, {"items": items}
        if path.endswith("/data"):
            wanted = request.url.params.get_list("filePath")
            return 200, {"items": [{"data": {"id": "fol.1", "details": {"path": "/fastqs/"}}}]
                         if "/fastqs/" in wanted else
                         [{"data": {"id": "fil.2", "details": {"path": wanted[0]}}}]}  # fmt: skip
        if path.endswith("/analysisStorages"):
            return 200, {"items": [{"id": "5a1c2e3f-0001-4d6b-9a8c-7e0f1b2c3d01", "name": "Small"}]}
        if path.endswith("findBestMatchingForNextflow"):
            return 200, {"id": "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c65"}
        return 201, analysis()

    run = spec(options={"ica": {"storage": "Small", "activation_code": "auto"}})
    status, sent = drive(backend().launch(run, "key-9", batch="b"), answer)
    paths = [r.url.path.rsplit("/", 1)[-1] for r in sent]
    assert paths == [
        "pipelines",
        "data",
        "data",
        "analysisStorages",
        "activationCodes:findBestMatchingForNextflow",
        "analysis:nextflow",
    ]
    for request in sent:
        assert request.headers["X-API-Key"] == KEY
        assert "authorization" not in request.headers
    lookups, create = sent[:-1], sent[-1]
    assert all(is_read_only(r) and is_idempotent(r) for r in lookups)
    assert sent[3].headers["Accept"] == V4  # analysisStorages is v4 only
    assert sent[0].headers["Accept"] == V3
    assert sent[4].method == "POST"
    assert not is_read_only(create)
    assert is_idempotent(create)  # it carries the key, so the driver may retry it
    assert create.headers["Idempotency-Key"] == "key-9"
    assert create.headers["Content-Type"] == create.headers["Accept"] == V4
    body = json.loads(create.content)
    assert body["activationCodeDetailId"] == "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c65"
    assert status.ref == RunRef("ica", f"{PROJECT}/a-1")
    assert status.ref.batch == "b"


def test_bearer_token_when_no_api_key() -> None:
    b = backend(x_api_key=None, access_token="jwt-1")
    _, sent = drive(b.status(RunRef("ica", f"{PROJECT}/a-1")), lambda r: (200, analysis()))
    assert sent[0].headers["Authorization"] == "Bearer jwt-1"
    assert "x-api-key" not in sent[0].headers


def test_status_cancel_outputs_urls() -> None:
    b = backend()
    ref = RunRef("ica", f"{PROJECT}/a-1")
    _, sent = drive(b.status(ref), lambda r: (200, analysis(status="IN_PROGRESS")))
    assert (sent[0].method, str(sent[0].url)) == ("GET", f"{BASE}/analyses/a-1")
    assert sent[0].headers["Accept"] == V4

    def cancel_answer(request: httpx.Request) -> tuple[int, Any]:
        if request.method == "POST":
            return 204, None
        return 200, analysis(status="ABORTING")

    status, sent = drive(b.cancel(ref), cancel_answer)
    abort = sent[0]
    assert str(abort.url) == f"{BASE}/analyses/a-1:abort"
    assert abort.headers["Accept"] == abort.headers["Content-Type"] == V3
    assert abort.content == b""
    assert is_idempotent(abort)
    assert status.native == "ABORTING"

    # mountPath is documented as the input location on the machine: never an output path
    tree = {"items": [{"code": "out", "data": [
        {"dataId": "fol.o", "name": "out", "dataType": "FOLDER", "mountPath": "/ces/", "children": [
            {"dataId": "fil.r", "name": "r.html", "dataType": "FILE", "mountPath": "/ces/r.html"},
            {"dataId": "fol.s", "name": "sub", "dataType": "FOLDER", "children": [
                {"dataId": "fil.t", "name": "t.tsv", "dataType": "FILE"}]}]}]}]}  # fmt: skip
    listing = {"items": [{"data": {"id": "fil.r", "details": {"fileSizeInBytes": 10}}}]}

    def outputs_answer(request: httpx.Request) -> tuple[int, Any]:
        return 200, listing if request.url.path.endswith("/data") else tree

    outputs, sent = drive(b.outputs(ref), outputs_answer)
    assert [(o.path, o.kind, o.id, o.size) for o in outputs] == [
        ("out/", "folder", "fol.o", None),
        ("out/r.html", "file", "fil.r", 10),
        ("out/sub/", "folder", "fol.s", None),
        ("out/sub/t.tsv", "file", "fil.t", None),
    ]
    assert sent[1].url.params.get_list("id") == ["fil.r", "fil.t"]
    urls = {"items": [{"dataId": "fil.r", "url": "https://u/r"},
                      {"dataId": "fil.t", "url": "https://u/t"}]}  # fmt: skip
    with_urls, sent = drive(b.download_urls(ref, outputs), lambda r: (200, urls))
    assert json.loads(sent[0].content) == {"dataIds": ["fil.r", "fil.t"]}
    assert is_read_only(sent[0])
    assert [o.url for o in with_urls] == [None, "https://u/r", None, "https://u/t"]


def test_batch_statuses_one_search_then_fallback() -> None:
    refs = [RunRef("ica", f"{PROJECT}/a-{i}", "b1") for i in range(3)]
    refs.append(RunRef("ica", f"{PROJECT}/lone"))

    def answer(request: httpx.Request) -> tuple[int, Any]:
        if request.method == "POST":
            return 200, {"items": [analysis(f"a-{i}", "SUCCEEDED") for i in (2, 0, 1)],
                         "nextPageToken": "more"}  # fmt: skip
        return 200, analysis("lone", "QUEUED")

    got, sent = drive(backend().statuses(refs), answer)
    assert [s.ref for s in got] == refs
    assert [s.native for s in got] == ["SUCCEEDED"] * 3 + ["QUEUED"]
    search = sent[0]
    assert search.url.params["pageSize"] == "1000"
    assert json.loads(search.content) == {"technicalTags": ["runhub-batch:b1"]}
    assert is_read_only(search)
    assert search.headers["Content-Type"] == search.headers["Accept"] == V3
    assert len(sent) == 2  # all batch runs found on page one: no second page asked


def problem(status: int, title: str) -> httpx.Response:
    body = {"type": "about:blank", "title": title, "status": status, "detail": "nope",
            "parameters": {"field": "why"}, "timestamp": "2026-11-23T03:00:00Z"}  # fmt: skip
    return httpx.Response(status, json=body, headers={"Content-Type": "application/problem+json"})


@pytest.mark.parametrize(
    ("status", "kind"), [(400, PlatformError), (401, AuthError), (403, AuthError), (404, NotFound)]
)
def test_error_for_reads_problem_json(status: int, kind: type[PlatformError]) -> None:
    err = backend().error_for(problem(status, "ICA_API_004"), "GET https://x/y")
    assert type(err) is kind
    assert (err.status, err.code, err.detail) == (status, "ICA_API_004", "nope")
    assert err.parameters == {"field": "why"}
    assert "ICA_API_004: nope" in str(err)
    assert KEY not in str(err)


def test_error_for_non_json_body() -> None:
    err = backend().error_for(httpx.Response(500, text="<html>oops</html>"), "GET https://x")
    assert err.status == 500
    assert err.code is None
    assert "oops" in str(err)
