"""Recorded exchanges (vcrpy via pytest-recording), replayed in CI with record mode ``none``.

Recorded against the emulator served over HTTP::

    pytest tests/ica/test_cassettes.py --record-mode=rewrite

Re-recorded against the real ICA (credentials from ICAV2_*; see docs/ica.md)::

    RUNHUB_ICA_REAL=1 ICAV2_X_API_KEY=... ICAV2_PROJECT_ID=... \
      RUNHUB_ICA_PIPELINE=<code> RUNHUB_ICA_INPUT=<code>:<project path> \
      pytest tests/ica/test_cassettes.py --record-mode=rewrite

Requests match on method, path and query only (not host or port), so the same
cassettes replay whichever server recorded them. Credentials are scrubbed, and a test
fails if any cassette holds one.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from runhub_ica.emulator import IcaEmulator, seed

from runhub.client import Client, PollSchedule
from runhub.errors import PlatformError
from runhub.spec import RunSpec
from runhub.state import RunState
from runhub.testing.emulator import Clock, EmulatorServer

from .conftest import DRAGEN, FAST, REF_TAR, plugins

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "ica"
# Read at import, before the autouse fixture clears ICAV2_* for the other tests.
REAL = os.environ.get("RUNHUB_ICA_REAL") == "1"
REAL_SETTINGS = {
    "server_url": os.environ.get("ICAV2_SERVER_URL", "ica.illumina.com"),
    "x_api_key": os.environ.get("ICAV2_X_API_KEY"),
    "access_token": os.environ.get("ICAV2_ACCESS_TOKEN"),
    "project_id": os.environ.get("ICAV2_PROJECT_ID"),
}
PIPELINE = os.environ.get("RUNHUB_ICA_PIPELINE", DRAGEN)
INPUTS = os.environ.get("RUNHUB_ICA_INPUT", f"fastqs:/fastqs/,ref_tar:{REF_TAR}")
RECORDING_KEY = "emulator-recording-key-7c1d"
#: What a recorded ``POST /api/tokens`` answer holds instead of the JWT.
SCRUBBED_TOKEN = "scrubbed-jwt"
CREDENTIAL_PATTERNS = [
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}"),  # base64url of '{"': a JWT's header or claims
    re.compile(r"x-api-key", re.IGNORECASE),
    re.compile(r"authorization", re.IGNORECASE),
    re.compile(r"bearer\s", re.IGNORECASE),
    re.compile(re.escape(RECORDING_KEY)),
]


def _scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    headers = response.get("headers", {})
    for name in list(headers):
        if name.lower() in ("set-cookie", "authorization", "x-api-key"):
            del headers[name]
    body = response.get("body", {}).get("string")
    if isinstance(body, bytes) and body.startswith(b'{"token"'):  # POST /api/tokens
        response["body"]["string"] = json.dumps({"token": SCRUBBED_TOKEN}).encode()
    return response


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": ["X-API-Key", "Authorization", "Cookie"],
        "before_record_response": _scrub_response,
        "match_on": ["method", "path", "query"],
        "decode_compressed_response": True,
    }


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@dataclass
class Target:
    """Where the cassette test talks to, and how time passes there."""

    settings: dict[str, Any]
    advance: Any  # Callable[[float], None]: moves emulated time (no-op for real ICA)


@pytest.fixture
def target(record_mode: str) -> Iterator[Target]:
    if record_mode == "none":  # replay: nothing listens, nothing waits
        settings = {"server_url": "http://127.0.0.1:9", "x_api_key": "replay",
                    "project_id": seed.PROJECT_ID}  # fmt: skip
        yield Target(settings, lambda seconds: None)
    elif REAL:
        yield Target({k: v for k, v in REAL_SETTINGS.items() if v}, lambda seconds: None)
    else:
        clock = Clock()
        with EmulatorServer(IcaEmulator(clock)) as server:
            settings = {"server_url": server.url, "x_api_key": RECORDING_KEY,
                        "project_id": seed.PROJECT_ID}  # fmt: skip
            yield Target(settings, clock.advance)


def run_spec(**changes: Any) -> RunSpec:
    mounts = []
    for item in INPUTS.split(","):
        code, _, path = item.partition(":")
        mounts.append({"source": path, "input": code})
    data: dict[str, Any] = {
        "backend": "ica",
        "pipeline": PIPELINE,
        "name": "runhub cassette",
        "mounts": mounts,
        "options": {"ica": {"storage": "Small"}},
    }
    data.update(changes)
    return RunSpec.from_data(data)


def client_for(target: Target) -> Client:
    return Client(settings={"ica": target.settings}, policy=FAST, plugins=plugins())


@pytest.mark.vcr
def test_launch_track_cancel_and_outputs(target: Target) -> None:
    with client_for(target) as client:
        launched = client.launch(run_spec(), key="cassette-launch-1", batch="cassette-batch")
        assert launched.state in (RunState.PENDING, RunState.QUEUED)
        target.advance(4.5)
        (polled,) = client.statuses([launched.ref])
        assert polled.ref == launched.ref
        cancelled = client.cancel(launched.ref)
        assert cancelled.state in (RunState.CANCELLING, RunState.CANCELLED)
        target.advance(5)
        final = client.wait(launched.ref, timeout=600, poll=PollSchedule(initial=0.01, cap=5))
        assert final.state is RunState.CANCELLED
        assert client.outputs(launched.ref) == []


@pytest.mark.vcr
def test_problem_json_from_the_platform(target: Target) -> None:
    with client_for(target) as client, pytest.raises(PlatformError) as info:
        client.launch(run_spec(mounts=[{"source": "/fastqs/", "input": "no-such-input"}]),
                      key="cassette-launch-2")  # fmt: skip
    assert info.value.status == 400
    assert info.value.code


def test_cassettes_exist_and_hold_no_credentials() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert {f.stem for f in files} >= {
        "test_launch_track_cancel_and_outputs",
        "test_problem_json_from_the_platform",
    }
    for path in files:
        text = path.read_text()
        for pattern in CREDENTIAL_PATTERNS:
            assert not pattern.search(text), f"{path.name} holds {pattern.pattern!r}"
