"""The emulated analysisCreationBatch endpoints, as the spec defines them: media types,
libica-validated requests, the job's progress, items (paged), idempotency."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from runhub_ica.emulator import IcaEmulator, schema, seed

from runhub.testing.emulator import Clock, mock_transport

V3 = "application/vnd.illumina.v3+json"
V4 = "application/vnd.illumina.v4+json"
BASE = f"http://127.0.0.1:9/ica/rest/api/projects/{seed.PROJECT_ID}"
FASTQC = seed.PIPELINES[1].id  # NEXTFLOW, XML form, one data input "reads"
BWA = seed.PIPELINES[3].id  # CWL, XML form


@pytest.fixture
def app() -> IcaEmulator:
    return IcaEmulator(Clock(speed=1.0))


@pytest.fixture
def http(app: IcaEmulator) -> httpx.Client:
    return httpx.Client(transport=mock_transport(app), headers={"X-API-Key": "k"})


def item(name: str, **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "userReference": name,
        "pipelineId": FASTQC,
        "tags": {"technicalTags": [f"runhub-key:{name}"], "userTags": [], "referenceTags": []},
        "analysisInput": {"inputs": []},
    }
    body.update(changes)
    return body


def create(http: httpx.Client, body: Any, media: str = V3, **headers: str) -> httpx.Response:
    return http.post(
        f"{BASE}/analysisCreationBatch",
        json=body,
        headers={"Content-Type": media, "Accept": media, **headers},
    )


def items(http: httpx.Client, batch: str, media: str = V4, **params: str) -> dict[str, Any]:
    resp = http.get(f"{BASE}/analysisCreationBatch/{batch}/items", params=params,
                    headers={"Accept": media})  # fmt: skip
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()
    name = "analysisCreationBatchItems" + ("-v3" if media == V3 else "")
    assert schema.response_problems(name, data) == {}
    return data


def test_the_request_is_v3_only(http: httpx.Client) -> None:
    body = {"nextflowItems": [item("a")]}
    assert create(http, body, media=V4).status_code == 400  # ICA_API_004: Accept
    v4_body = http.post(
        f"{BASE}/analysisCreationBatch", json=body, headers={"Content-Type": V4, "Accept": V3}
    )
    assert v4_body.status_code == 415


def test_an_item_breaking_the_schema_refuses_the_whole_request(
    http: httpx.Client, app: IcaEmulator
) -> None:
    bad = item("b", analysisStorageId="not-a-uuid")
    resp = create(http, {"nextflowItems": [item("a"), bad]})
    assert resp.status_code == 400
    assert "analysisStorageId" in resp.json()["detail"]
    unknown = create(http, {"nextflowItems": [item("a", surprise=1)]})
    assert unknown.status_code == 400
    assert "surprise" in unknown.text
    assert app.batches.batches == {}


def test_the_job_moves_from_initialized_to_partially_succeeded(
    http: httpx.Client, app: IcaEmulator
) -> None:
    missing = {"parameterCode": "reads", "dataIds": ["fil.00000000000000000000000000000000"]}
    body = {"nextflowItems": [item("ok"), item("bad", analysisInput={"inputs": [missing]})]}
    created = create(http, body)
    assert created.status_code == 201
    assert schema.response_problems("analysisCreationBatch", created.json()) == {}
    batch = created.json()["id"]
    assert created.json()["job"]["status"] == "INITIALIZED"
    listed = items(http, batch)["items"]
    assert [i["processing"]["status"] for i in listed] == ["WAITING_RESOURCES"] * 2
    assert all("createdAnalysis" not in i for i in listed)
    app.clock.advance(0.6)
    job = http.get(f"{BASE}/analysisCreationBatch/{batch}", headers={"Accept": V3}).json()["job"]
    assert job["status"] == "RUNNING"
    app.clock.advance(5)
    listed = items(http, batch)["items"]
    by_name = {i["request"]["userReference"]: i for i in listed}
    assert by_name["ok"]["processing"]["status"] == "SUCCEEDED"
    assert by_name["ok"]["createdAnalysis"]["userReference"] == "ok"
    assert by_name["bad"]["processing"]["status"] == "FAILED"
    assert "does not exist" in by_name["bad"]["processing"]["additionalStatusInformation"]
    job = http.get(f"{BASE}/analysisCreationBatch/{batch}", headers={"Accept": V3}).json()["job"]
    assert job["status"] == "PARTIALLY_SUCCEEDED"
    one = http.get(
        f"{BASE}/analysisCreationBatch/{batch}/items/{by_name['ok']['id']}",
        headers={"Accept": V3},
    )
    assert one.status_code == 200
    assert schema.response_problems("analysisCreationBatchItem-v3", one.json()) == {}
    assert len(app.analyses) == 1


def test_cwl_items_take_the_structured_analysis_cwl_body(
    http: httpx.Client, app: IcaEmulator
) -> None:
    cwl = item("c", pipelineId=BWA, analysisInput={"objectType": "STRUCTURED", "inputs": []})
    batch = create(http, {"cwlItems": [cwl]}).json()["id"]
    app.clock.advance(5)
    (listed,) = items(http, batch)["items"]
    assert listed["processing"]["status"] == "SUCCEEDED", listed


def test_items_are_paged_with_a_cursor(http: httpx.Client, app: IcaEmulator) -> None:
    batch = create(http, {"nextflowItems": [item(f"r{i}") for i in range(5)]}).json()["id"]
    app.clock.advance(5)
    seen, token, pages = [], None, 0
    while True:
        params = {"pageSize": "2", **({"pageToken": token} if token else {})}
        page = items(http, batch, **params)
        seen += [i["request"]["userReference"] for i in page["items"]]
        pages += 1
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages == 3
    assert sorted(seen) == [f"r{i}" for i in range(5)]


def test_idempotency_key_replays_and_refuses_another_body(
    http: httpx.Client, app: IcaEmulator
) -> None:
    body = {"nextflowItems": [item("a"), item("b")]}
    first = create(http, body, **{"Idempotency-Key": "k1"})
    again = create(http, body, **{"Idempotency-Key": "k1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    other = create(http, {"nextflowItems": [item("a")]}, **{"Idempotency-Key": "k1"})
    assert other.status_code == 422
    assert len(app.batches.batches) == 1


def test_a_batch_larger_than_the_limit_is_too_large(http: httpx.Client, app: IcaEmulator) -> None:
    app.batches.max_items = 2
    resp = create(http, {"nextflowItems": [item(f"r{i}") for i in range(3)]})
    assert resp.status_code == 413
    assert app.batches.batches == {}


def test_a_dropped_answer_leaves_the_batch_accepted_and_replayable(
    http: httpx.Client, app: IcaEmulator
) -> None:
    app.batches.drop_answers = 1
    body = {"nextflowItems": [item("a")]}
    with pytest.raises(httpx.RemoteProtocolError):
        create(http, body, **{"Idempotency-Key": "k2"})
    (accepted,) = app.batches.batches
    assert create(http, body, **{"Idempotency-Key": "k2"}).json()["id"] == accepted
