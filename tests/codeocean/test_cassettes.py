"""Recorded HTTP conversations (vcrpy via pytest-recording), replayed offline.

By default (record mode ``none``) the tests replay ``cassettes/codeocean/*.yaml``
and touch no network. ``pytest --record-mode=rewrite tests/codeocean/test_cassettes.py``
re-records them against the emulator served over HTTP; with
``RUNHUB_CODEOCEAN_LIVE=1`` plus ``CODEOCEAN_URL``/``CODEOCEAN_API_TOKEN`` (and
``CODEOCEAN_TEST_CAPSULE``) they are recorded against a real deployment instead
(docs/codeocean.md). Requests match on method, route shape (ids wildcarded) and
query, never on host or port, so one set of cassettes serves every target.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from runhub_codeocean.emulator import ART_CAPSULE, DEFAULT_TOKEN, CodeOceanEmulator

from runhub.client import Client
from runhub.errors import NotFound
from runhub.spec import RunSpec
from runhub.state import RunState
from runhub.testing.emulator import Clock, EmulatorServer

from .conftest import FAST, plugins

CASSETTES = Path(__file__).resolve().parents[2] / "cassettes" / "codeocean"
# Read before the autouse fixture clears the environment for every test.
LIVE = os.environ.get("RUNHUB_CODEOCEAN_LIVE") == "1"
LIVE_URL = os.environ.get("CODEOCEAN_URL", "")
LIVE_TOKEN = os.environ.get("CODEOCEAN_API_TOKEN") or os.environ.get("API_TOKEN", "")
LIVE_CAPSULE = os.environ.get("CODEOCEAN_TEST_CAPSULE", ART_CAPSULE)
LIVE_PARAMETERS = json.loads(os.environ.get("CODEOCEAN_TEST_PARAMETERS", '["75", "1", "HS25"]'))

_SIGNED = re.compile(r'("(?:download_url|view_url)"\s*:\s*"[^"?]*)\?[^"]*"')
_EMAIL = re.compile(r'("owner_email"\s*:\s*)"[^"]*"')


def scrub_response(response: dict[str, Any]) -> dict[str, Any]:
    """Drop signed-URL query strings (they carry cloud credentials) and emails."""
    body = response.get("body", {}).get("string")
    if isinstance(body, bytes):
        text = body.decode("utf-8", "replace")
        text = _SIGNED.sub(r'\1?scrubbed"', text)
        text = _EMAIL.sub(r'\1"scrubbed@example.org"', text)
        response["body"]["string"] = text.encode()
    for header in ("Set-Cookie", "set-cookie"):
        response.get("headers", {}).pop(header, None)
    return response


@pytest.fixture(scope="module")
def vcr_cassette_dir() -> str:
    return str(CASSETTES)


@pytest.fixture(scope="module")
def vcr_config() -> dict[str, Any]:
    return {
        "filter_headers": ["authorization", "cookie", "agent-id"],
        "match_on": ["method", "codeocean_route", "query"],
        "before_record_response": scrub_response,
        "decode_compressed_response": True,
    }


@dataclass
class Target:
    """Where the conversation happens and how time passes there."""

    client: Client
    capsule: str
    parameters: list[Any]
    tick: Callable[[], None]


@pytest.fixture
def target(record_mode: str, vcr: Any) -> Iterator[Target]:
    if record_mode == "none":  # replay: nothing listens, nothing waits
        yield from _target(
            "http://127.0.0.1:9", DEFAULT_TOKEN, ART_CAPSULE, ["75", "1", "HS25"], lambda: None
        )
    elif LIVE:
        yield from _target(
            LIVE_URL, LIVE_TOKEN, LIVE_CAPSULE, LIVE_PARAMETERS, lambda: time.sleep(15)
        )
    else:
        app = CodeOceanEmulator(clock=Clock(speed=0.0))
        with EmulatorServer(app) as server:
            yield from _target(
                server.url,
                DEFAULT_TOKEN,
                ART_CAPSULE,
                ["75", "1", "HS25"],
                lambda: app.clock.advance(2),
            )


def _target(
    url: str, token: str, capsule: str, parameters: list[Any], tick: Callable[[], None]
) -> Iterator[Target]:
    with Client(
        settings={"codeocean": {"url": url, "api_token": token}}, policy=FAST, plugins=plugins()
    ) as client:
        yield Target(client, capsule, parameters, tick)


def _spec(target: Target, name: str) -> RunSpec:
    return RunSpec.from_data(
        {
            "pipeline": target.capsule,
            "parameters": target.parameters,
            "name": name,
            "backend": "codeocean",
        }
    )


@pytest.mark.vcr
def test_launch_track_and_list_results(target: Target) -> None:
    client = target.client
    status = client.launch(_spec(target, "runhub-cassette-run"))
    assert status.name == "runhub-cassette-run"
    assert status.message is None
    while not status.is_terminal:
        target.tick()
        status = client.status(status.ref)
    assert status.state is RunState.SUCCEEDED
    assert client.statuses([status.ref])[0].state is RunState.SUCCEEDED
    outputs = client.outputs(status.ref)
    assert outputs
    assert all(o.kind == "file" for o in outputs)
    with_urls = client.download_urls(status.ref, outputs[:1])
    assert with_urls[0].url is not None


@pytest.mark.vcr
def test_cancel_and_not_found(target: Target) -> None:
    client = target.client
    status = client.launch(_spec(target, "runhub-cassette-cancel"))
    cancelled = client.cancel(status.ref)
    assert cancelled.state is RunState.CANCELLED
    with pytest.raises(NotFound):
        client.status("codeocean:00000000-0000-0000-0000-000000000000")


SECRET_MARKERS = re.compile(
    r"authorization|basic [a-z0-9+/=]{8,}|emulator-token|cop_[a-z0-9]"
    r"|x-amz-(credential|security-token|signature)",
    re.IGNORECASE,
)


def test_cassettes_exist_and_hold_no_credentials() -> None:
    files = sorted(CASSETTES.glob("*.yaml"))
    assert {f.stem for f in files} >= {
        "test_launch_track_and_list_results",
        "test_cancel_and_not_found",
    }
    for path in files:
        text = path.read_text(encoding="utf-8")
        found = SECRET_MARKERS.search(text)
        assert found is None, f"{path.name} holds a credential-like string: {found.group(0)!r}"
        if LIVE_TOKEN:
            assert LIVE_TOKEN not in text
