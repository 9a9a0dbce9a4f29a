"""Issue 12 item 17 (ICA): the emulator shows the documented variance, still checking
every request and answer against the official schemas (libica 3.3 models)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from runhub_ica.emulator import IcaEmulator, Variance, seed

from runhub.testing.emulator import Clock, EmulatorServer, mock_transport

from .test_emulator import BASE, V3, create_body, post


def client(app: IcaEmulator) -> httpx.Client:
    return httpx.Client(transport=mock_transport(app), headers={"X-API-Key": "k"})


def test_v3_create_as_the_chaining_doc_posts_it() -> None:
    # platform docs, "Pipeline Chaining on AWS": analysis:nextflow with v3 accept and
    # Content-Type; the spec lists v3 for that operation (answer: AnalysisV3).
    app = IcaEmulator(Clock())
    with client(app) as http:
        created = post(http, create_body(), media=V3)
        assert created.status_code == 201, created.text
        assert created.headers["Content-Type"] == V3
        body = created.json()
        assert body["status"] == "REQUESTED"
        assert "ownerId" in body
        assert "owner" not in body
        got = http.get(f"{BASE}/analyses/{body['id']}", headers={"Accept": V3})
        assert got.status_code == 200
        assert "tenantName" in got.json()
        # the V4-only operations still refuse v3
        refused = http.post(
            f"{BASE}/analysis:nextflowWithCustomInput",
            json={**create_body(), "analysisInput": {"customInput": "{}"}},
            headers={"Content-Type": V3, "Accept": V3},
        )
        assert refused.status_code in (400, 415)


def test_data_listing_pages_by_cursor_and_honours_page_size() -> None:
    for variance, per_page in ((Variance(), 2), (Variance(page_cap=1), 1)):
        app = IcaEmulator(Clock(), variance=variance)
        with client(app) as http:
            seen: list[str] = []
            token = None
            pages = 0
            while True:
                params = {"filePath": "/cases/", "pageSize": "2"}
                if token:
                    params["pageToken"] = token
                page = http.get(f"{BASE}/data", params=params, headers={"Accept": V3}).json()
                assert len(page["items"]) <= per_page
                seen += [i["data"]["id"] for i in page["items"]]
                pages += 1
                token = page["nextPageToken"]
                if not token:
                    break
        assert len(seen) == len(set(seen)) == 8  # every item once (cursor paging)
        assert pages == -(-8 // per_page)


def test_parent_path_reading() -> None:
    app = IcaEmulator(Clock(), variance=Variance(parent_paths=True))
    with client(app) as http:
        page = http.get(
            f"{BASE}/data",
            params={"filePath": "/cases/Sample.csv", "filePathMatchMode": "FULL_CASE_INSENSITIVE"},
            headers={"Accept": V3},
        ).json()
    details = {i["data"]["details"]["name"]: i["data"]["details"]["path"] for i in page["items"]}
    assert set(details.values()) == {"/cases/"}  # the parent's path, not the item's


def test_a_loose_tag_filter_returns_near_misses() -> None:
    app = IcaEmulator(Clock(), variance=Variance(loose_tags=True))
    with client(app) as http:
        body = create_body(tags={"technicalTags": ["runhub-key:one"]})
        assert post(http, body, **{"Idempotency-Key": "one"}).status_code == 201
        found = http.post(
            f"{BASE}/analysis:search",
            json={"technicalTags": ["runhub-key:two"]},
            headers={"Content-Type": V3, "Accept": V3},
        ).json()
    assert len(found["items"]) == 1  # shares the words "runhub" and "key"


def test_a_keyed_create_is_in_flight_for_a_while_then_replayed() -> None:
    app = IcaEmulator(Clock(), variance=Variance(in_flight_conflicts=2))
    with client(app) as http:
        answers = [post(http, create_body(), **{"Idempotency-Key": "k1"}) for _ in range(4)]
    assert [a.status_code for a in answers] == [201, 409, 409, 201]
    assert answers[0].json()["id"] == answers[3].json()["id"]
    assert len(app.analyses) == 1


def test_tokens_are_minted_for_a_key_and_accepted_everywhere() -> None:
    app = IcaEmulator(Clock(), token_seconds=3600)
    with client(app) as http:
        minted = http.post("http://127.0.0.1:9/ica/rest/api/tokens", headers={"Accept": V3})
        assert minted.status_code == 200
        assert minted.headers["Content-Type"] == V3
        jwt = minted.json()["token"]
        bearer = {"Authorization": f"Bearer {jwt}", "X-API-Key": ""}
        ok = http.get(f"{BASE}/pipelines", headers={**bearer, "Accept": V3})
        assert ok.status_code == 200
        again = http.post(
            "http://127.0.0.1:9/ica/rest/api/tokens", headers={**bearer, "Accept": V3}
        )
        assert again.status_code == 401  # createJwtToken: ApiKeyAuth | BasicAuth | PsTokenAuth
    other = IcaEmulator(Clock())  # another ICA does not accept this one's tokens
    with client(other) as http:
        refused = http.get(f"{BASE}/pipelines", headers={**bearer, "Accept": V3})
        assert refused.status_code == 401


def test_download_urls_point_at_the_serving_emulator_and_serve_the_bytes() -> None:
    app = IcaEmulator(Clock())
    csv = next(
        r for r in app.world.data.values() if r.path == "/samplesheets/rnaseq_samplesheet.csv"
    )
    with EmulatorServer(app) as server, httpx.Client(headers={"X-API-Key": "k"}) as http:
        base = f"{server.url}/ica/rest/api/projects/{seed.PROJECT_ID}"
        urls = http.post(
            f"{base}/data:createDownloadUrls",
            json={"dataIds": [csv.id]},
            headers={"Content-Type": V3, "Accept": V3},
        ).json()
        url = urls["items"][0]["url"]
        assert url.startswith(f"{server.url}/")
        with httpx.Client() as plain:  # presigned: no credentials
            whole = plain.get(url)
            part = plain.get(url, headers={"Range": "bytes=100-"})
            forged = plain.get(url.replace("Signature=", "Signature=0"))
    assert whole.status_code == 200
    assert len(whole.content) == csv.size
    assert part.status_code == 206
    assert part.content == whole.content[100:]
    assert forged.status_code == 403


def test_python_m_without_libica_says_how_to_install_it(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "libica.py").write_text("raise ImportError(\"No module named 'libica'\")\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-m", "runhub_ica.emulator", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install 'runhub-ica[emulator]'" in lines[0]
    assert "Traceback" not in done.stderr


def test_variance_is_all_or_nothing_by_default() -> None:
    assert not IcaEmulator(Clock()).variance.active
    assert IcaEmulator(Clock(), variance=True).variance == Variance.documented()
    with pytest.raises(ValueError, match="refuse_tokens"):
        IcaEmulator(Clock(), refuse_tokens=500)
