"""The emulator behaves like ICA at the HTTP level: auth, media types, schema checks."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import pytest
from runhub_ica.emulator import IcaEmulator, Problem, schema, seed

from runhub.testing.emulator import Clock, EmulatorServer, mock_transport

V3 = "application/vnd.illumina.v3+json"
V4 = "application/vnd.illumina.v4+json"
BASE = f"http://127.0.0.1:9/ica/rest/api/projects/{seed.PROJECT_ID}"


@pytest.fixture
def http(app: IcaEmulator) -> httpx.Client:
    return httpx.Client(transport=mock_transport(app), headers={"X-API-Key": "k"})


def create_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "userReference": "emu-test",
        "pipelineId": seed.PIPELINES[1].id,
        "analysisInput": {"inputs": []},
    }
    body.update(changes)
    return body


def post(http: httpx.Client, body: Any, media: str = V4, **headers: str) -> httpx.Response:
    return http.post(
        f"{BASE}/analysis:nextflow",
        json=body,
        headers={"Content-Type": media, "Accept": media, **headers},
    )


def problem(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json()
    assert schema.response_problems("problem", body) == {}
    return body  # type: ignore[no-any-return]


def test_create_answers_201_v4(http: httpx.Client, app: IcaEmulator) -> None:
    response = post(http, create_body())
    assert response.status_code == 201
    assert response.headers["Content-Type"] == V4
    assert schema.response_problems("create", response.json()) == {}
    assert len(app.analyses) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"userReference": "bad.name"}, "userReference"),
        ({"userReference": ""}, "userReference"),
        ({"pipelineId": None}, "pipelineId"),
        ({"analysisInput": None}, "analysisInput"),
        ({"color": "blue"}, "color"),
        ({"analysisInput": {"inputs": [{"dataIds": []}]}}, "analysisInput.inputs.0.parameterCode"),
        ({"analysisOutput": [{"sourcePath": "out/"}]}, "analysisOutput.0.targetPath"),
        ({"analysisStorageId": "not-a-uuid"}, "analysisStorageId"),
        (
            {"analysisInput": {"inputs": [], "parameters": [{"code": "a", "value": "1",
                                                             "multiValue": ["1"]}]}},
            "analysisInput.parameters.0",
        ),
    ],
)  # fmt: skip
def test_bodies_breaking_the_schema_are_400(
    http: httpx.Client, app: IcaEmulator, changes: dict[str, Any], field: str
) -> None:
    response = post(http, create_body(**changes))
    assert response.status_code == 400
    body = problem(response)
    assert body["title"] == "ICA_EMU_VALIDATION"
    assert any(key.startswith(field) for key in body["parameters"]), body["parameters"]
    assert app.analyses == []


def test_missing_accept_is_ica_api_004(http: httpx.Client) -> None:
    response = http.get(f"{BASE}/pipelines")
    assert response.status_code == 400
    assert problem(response)["title"] == "ICA_API_004"


def test_wrong_version_is_refused(http: httpx.Client) -> None:
    """GET analysisStorages exists in v4 only; custom-input creates take v4 only."""
    assert http.get(f"{BASE}/analysisStorages", headers={"Accept": V3}).status_code == 400
    response = http.post(
        f"{BASE}/analysis:nextflowWithCustomInput",
        json={"userReference": "x", "pipelineId": "p", "analysisInput": {"customInput": "{}"}},
        headers={"Content-Type": V3, "Accept": V4},
    )
    assert response.status_code == 415


def test_abort_needs_explicit_headers(http: httpx.Client, app: IcaEmulator) -> None:
    analysis = post(http, create_body()).json()["id"]
    assert http.post(f"{BASE}/analyses/{analysis}:abort").status_code == 400
    ok = http.post(f"{BASE}/analyses/{analysis}:abort",
                   headers={"Accept": V3, "Content-Type": V3})  # fmt: skip
    assert ok.status_code == 204
    assert app.analyses[0].aborted_at is not None


def test_no_credentials_is_401(app: IcaEmulator) -> None:
    http = httpx.Client(transport=mock_transport(app))
    response = http.get(f"{BASE}/pipelines", headers={"Accept": V3})
    assert response.status_code == 401
    assert problem(response)["status"] == 401


def test_unknown_project_and_endpoint_are_404(http: httpx.Client) -> None:
    other = "http://127.0.0.1:9/ica/rest/api/projects/00000000-0000-4000-8000-000000000000"
    assert http.get(f"{other}/pipelines", headers={"Accept": V3}).status_code == 404
    assert http.get(f"{BASE}/nothing", headers={"Accept": V3}).status_code == 404


def test_search_filters_pages_and_caps_page_size(
    http: httpx.Client, app: IcaEmulator, clock: Clock
) -> None:
    tags = {"technicalTags": ["runhub-batch:x"], "userTags": [], "referenceTags": []}
    for index in range(5):
        assert post(http, create_body(userReference=f"r{index}", tags=tags)).status_code == 201
    post(http, create_body(userReference="untagged"))
    headers = {"Content-Type": V3, "Accept": V3}
    query = {"technicalTags": ["runhub-batch:x"]}
    seen: list[str] = []
    token = None
    while True:
        params = {"pageSize": "2", **({"pageToken": token} if token else {})}
        page = http.post(f"{BASE}/analysis:search", json=query, params=params, headers=headers)
        assert page.status_code == 200
        assert schema.response_problems("analysis:search", page.json()) == {}
        seen += [item["userReference"] for item in page.json()["items"]]
        token = page.json().get("nextPageToken")
        if not token:
            break
    assert seen == [f"r{i}" for i in range(5)]
    too_big = http.post(f"{BASE}/analysis:search", json=query, params={"pageSize": "1001"},
                        headers=headers)  # fmt: skip
    assert too_big.status_code == 400
    clock.advance(100)
    done = http.post(f"{BASE}/analysis:search", json={"status": ["SUCCEEDED"]},
                     params={"pageSize": "1000"}, headers=headers)  # fmt: skip
    assert len(done.json()["items"]) == 6


def test_every_lookup_answer_matches_its_schema(http: httpx.Client) -> None:
    pipeline = seed.PIPELINES[0].id
    checks = [
        ("projects", "http://127.0.0.1:9/ica/rest/api/projects", V3),
        ("pipelines", f"{BASE}/pipelines", V3),
        ("inputParameters", f"{BASE}/pipelines/{pipeline}/inputParameters", V3),
        ("analysisStorages", f"{BASE}/analysisStorages", V4),
        ("data", f"{BASE}/data", V3),
    ]
    for name, url, media in checks:
        response = http.get(url, headers={"Accept": media})
        assert response.status_code == 200, response.text
        assert response.headers["Content-Type"] == media
        assert schema.response_problems(name, response.json()) == {}
        assert response.json()["items"]


def test_the_emulator_refuses_to_send_a_broken_answer(app: IcaEmulator) -> None:
    """Its own answers are checked: a schema break is a 500, never a silent pass."""
    with pytest.raises(Problem) as info:
        app._json(200, "analysis", {"id": "x"})
    assert (info.value.status, info.value.code) == (500, "ICA_EMU_BUG")


def test_served_over_http() -> None:
    app = IcaEmulator(Clock())
    with EmulatorServer(app) as server:
        response = httpx.get(
            f"{server.url}/ica/rest/api/projects/{seed.PROJECT_ID}/pipelines",
            headers={"Accept": V3, "X-API-Key": "k"},
        )
    assert response.status_code == 200
    assert len(response.json()["items"]) == len(seed.PIPELINES)


def test_module_entry_point_prints_its_url() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "runhub_ica.emulator", "--port", "0", "--speed", "50"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        response = httpx.get(
            f"{url}/ica/rest/api/projects", headers={"Accept": V3, "X-API-Key": "k"}
        )
        assert response.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)
