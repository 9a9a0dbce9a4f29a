"""Cross-check with openapi-core against the vendored official spec (../shared/specs).

Every request the backend sends in a full session, and every answer the emulator
gives, must validate against the official ICA OpenAPI document. This catches drift
between libica's models (which the emulator uses at runtime) and the spec.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from runhub_ica.emulator import IcaEmulator
from runhub_ica.translate import KINDS, Resolved, translate

from runhub.testing.emulator import Clock

from .conftest import BWA, FASTQC, RNASEQ, SHARED_SPEC, make_client, spec
from .test_translate import MOUNT_FORMS, PIPELINE, PROJECT, make, resolved

MEDIA = (
    "application/vnd.illumina.v3+json",
    "application/vnd.illumina.v4+json",
    "application/problem+json",
)


@pytest.fixture(scope="module")
def openapi() -> Any:
    if not SHARED_SPEC.exists():
        pytest.skip(f"needs ../shared/specs: {SHARED_SPEC} (the official ICA OpenAPI) is absent")
    from openapi_core import Config, OpenAPI

    config = Config(extra_media_type_deserializers=dict.fromkeys(MEDIA, json.loads))
    return OpenAPI.from_file_path(str(SHARED_SPEC), config=config)


def _mock_request(request: httpx.Request) -> Any:
    from openapi_core.testing import MockRequest
    from werkzeug.datastructures import ImmutableMultiDict

    content_type = request.headers.get("Content-Type", "application/json")
    return MockRequest(
        f"{request.url.scheme}://{request.url.netloc.decode()}",
        request.method.lower(),
        request.url.path,
        args=ImmutableMultiDict(list(request.url.params.multi_items())),
        data=request.content or None,
        headers=dict(request.headers),
        content_type=content_type,
    )


def check_request(openapi: Any, request: httpx.Request) -> None:
    openapi.validate_request(_mock_request(request))


def check_exchange(openapi: Any, request: httpx.Request, response: httpx.Response) -> None:
    from openapi_core.testing import MockResponse

    check_request(openapi, request)
    if response.status_code == 204:
        return
    mock = MockResponse(
        response.content,
        status_code=response.status_code,
        content_type=response.headers.get("Content-Type", ""),
    )
    openapi.validate_response(_mock_request(request), mock)


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("mounts", list(MOUNT_FORMS))
def test_translated_bodies_validate_against_the_official_spec(
    openapi: Any, kind: str, mounts: str
) -> None:
    creds = "11111111-2222-4333-8444-555555555555"
    run = make(
        kind,
        mounts=MOUNT_FORMS[mounts],
        options={"ica": {"kind": kind, "storage_credentials": creds}},
    )
    endpoint, payload = translate(run, resolved(run), key="k", batch="b")
    media = "application/vnd.illumina.v4+json"
    request = httpx.Request(
        "POST",
        f"https://ica.illumina.com/ica/rest/api/projects/{PROJECT}/{endpoint}",
        json=payload,
        headers={"Content-Type": media, "Accept": media, "X-API-Key": "k", "Idempotency-Key": "k"},
    )
    check_request(openapi, request)


def test_the_official_spec_rejects_a_bad_body(openapi: Any) -> None:
    from openapi_core.validation.request.exceptions import InvalidRequestBody

    run = make("nextflow")
    endpoint, payload = translate(run, Resolved(PROJECT, PIPELINE, input_codes=("f",)), key="k")
    payload["userReference"] = "bad.name"
    request = httpx.Request(
        "POST",
        f"https://ica.illumina.com/ica/rest/api/projects/{PROJECT}/{endpoint}",
        json=payload,
        headers={"Content-Type": "application/vnd.illumina.v4+json", "X-API-Key": "k"},
    )
    with pytest.raises(InvalidRequestBody):
        check_request(openapi, request)


class Recorder:
    """Wraps the emulator and keeps every request/response pair."""

    def __init__(self, app: IcaEmulator) -> None:
        self.app = app
        self.pairs: list[tuple[httpx.Request, httpx.Response]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = self.app.handle(request)
        self.pairs.append((request, response))
        return response


@pytest.fixture
def recorded() -> tuple[Recorder, Clock]:
    clock = Clock()
    return Recorder(IcaEmulator(clock)), clock


def test_a_full_session_validates_both_ways(openapi: Any, recorded: tuple[Recorder, Clock]) -> None:
    recorder, clock = recorded
    client = make_client(recorder)
    with client:
        runs = [
            client.launch(
                spec(options={"ica": {"storage": "Small", "activation_code": "auto"}}), batch="b1"
            ),
            client.launch(
                spec(pipeline=FASTQC, mounts=[{"source": "ica://runhub-demo/fastqs/"}]), batch="b1"
            ),
            client.launch(
                spec(
                    pipeline=RNASEQ,
                    mounts=[{"source": "/samplesheets/rnaseq_samplesheet.csv", "input": "input"}],
                    options={"ica": {"kind": "nextflow-custom"}},
                )
            ),
            client.launch(
                spec(
                    pipeline=BWA,
                    mounts=[
                        {"source": "/fastqs/", "input": "reads"},
                        {"source": "/reference/GRCh38.fa", "input": "reference"},
                    ],
                    options={"ica": {"kind": "cwl"}},
                )
            ),
            client.launch(
                spec(
                    pipeline=BWA,
                    mounts=[{"source": "/reference/GRCh38.fa", "input": "reference"}],
                    options={"ica": {"kind": "cwl-json"}},
                )
            ),
        ]
        client.cancel(runs[3].ref)
        clock.advance(100)
        client.statuses([r.ref for r in runs])
        outputs = client.outputs(runs[0].ref)
        client.download_urls(runs[0].ref, outputs)
        with pytest.raises(Exception, match="ICA_EMU_INPUT"):
            client.launch(spec(mounts=[{"source": "/fastqs/", "input": "nope"}]))
    kinds = {r.url.path.rsplit("/", 1)[-1] for r, _ in recorder.pairs}
    assert {
        "pipelines",
        "data",
        "analysisStorages",
        "analysis:search",
        "outputs",
        "data:createDownloadUrls",
        "activationCodes:findBestMatchingForNextflow",
        "analysis:nextflow",
        "analysis:nextflowWithCustomInput",
        "analysis:cwlWithStructuredInput",
        "analysis:cwlWithJsonInput",
        "projects",
    } <= kinds
    for request, response in recorder.pairs:
        check_exchange(openapi, request, response)
