"""The CLI against a small HTTP backend: dry-run, -v request logs, exit codes 3 and 4.

The backend talks to an in-process httpx transport; nothing leaves the process.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

import httpx
import pytest
from pydantic import AliasChoices, Field, SecretStr

from runhub.backend import Backend, Capabilities, RunRef, request, response_json
from runhub.cli.helpers.session import Session
from runhub.client import Client
from runhub.config import BackendSettings
from runhub.plugins import BackendInfo, Registry
from runhub.spec import RunSpec
from runhub.state import RunState, RunStatus

SECRET = "tok-CLI-SECRET-93c1e7"
Handler = Callable[[httpx.Request], httpx.Response]


class ToySettings(BackendSettings):
    url: str = "https://toy.example"
    token: SecretStr | None = Field(None, validation_alias=AliasChoices("TOY_TOKEN", "token"))


class ToyBackend(Backend):
    """Launch looks the pipeline up (GET), then POSTs /runs; status is GET /runs/{id}."""

    name = "toy"
    settings_model = ToySettings
    capabilities = Capabilities(outputs=False)
    states: ClassVar[dict[str, RunState]] = {
        "running": RunState.RUNNING,
        "done": RunState.SUCCEEDED,
    }
    settings: ToySettings

    def _headers(self) -> dict[str, str]:
        token = self.settings.token
        return {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}

    def launch(self, spec: RunSpec, key: str, *, batch: str | None = None) -> Any:
        base = self.settings.url
        found = yield request("GET", f"{base}/pipelines/{spec.pipeline}", headers=self._headers())
        body = {"pipeline": response_json(found)["id"], "params": spec.parameters}
        created = yield request("POST", f"{base}/runs", json_body=body, headers=self._headers())
        data = response_json(created)
        return RunStatus(RunRef(self.name, data["id"]), self.state_of(data["state"]), data["state"])

    def status(self, ref: RunRef) -> Any:
        got = yield request("GET", f"{self.settings.url}/runs/{ref.id}", headers=self._headers())
        data = response_json(got)
        return RunStatus(ref, self.state_of(data["state"]), data["state"])


class Platform:
    """Answers the toy backend's requests; ``fail`` forces a status code on every answer."""

    def __init__(self) -> None:
        self.seen: list[httpx.Request] = []
        self.fail: int | None = None

    def __call__(self, req: httpx.Request) -> httpx.Response:
        self.seen.append(req)
        if self.fail:
            return httpx.Response(self.fail, json={"error": f"nope {SECRET}"})
        if req.url.path.startswith("/pipelines/"):
            return httpx.Response(200, json={"id": "p-1"})
        if req.method == "POST":
            return httpx.Response(201, json={"id": "r-1", "state": "done"})
        return httpx.Response(200, json={"state": "done"})


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch) -> Platform:
    """Routes the CLI's client to the toy platform; the token comes from the environment."""
    app = Platform()
    plugins = Registry(backends={"toy": BackendInfo(ToyBackend, "tests", None, None)})
    monkeypatch.setenv("TOY_TOKEN", SECRET)

    def new_client(session: Session) -> Client:
        return Client(profile=session.profile, transport=httpx.MockTransport(app), plugins=plugins)

    monkeypatch.setattr(Session, "_new_client", new_client)
    return app


@pytest.fixture
def toy_spec(tmp_path: Any) -> str:
    path = tmp_path / "toy.yaml"
    path.write_text("backend: toy\npipeline: align\nparameters: {threads: 4}\n")
    return str(path)


def test_dry_run_performs_lookups_and_prints_the_request_with_secrets_masked(
    cli: Any, platform: Platform, toy_spec: str
) -> None:
    result = cli("launch", toy_spec, "--dry-run", "--set", "parameters.threads=8")
    assert result.code == 0, result.err
    assert [(r.method, r.url.path) for r in platform.seen] == [("GET", "/pipelines/align")]
    assert "# looked up: GET https://toy.example/pipelines/align" in result.out
    assert "POST https://toy.example/runs" in result.out
    assert SECRET not in result.out + result.err
    assert "authorization: ***" in result.out.lower()
    body = result.out[result.out.index("{") :]
    assert json.loads(body) == {"pipeline": "p-1", "params": {"threads": 8}}


def test_dry_run_as_json(cli: Any, platform: Platform, toy_spec: str) -> None:
    data = cli("launch", toy_spec, "--dry-run", "-o", "json").json()
    assert data["backend"] == "toy"
    assert data["lookups"] == [{"method": "GET", "url": "https://toy.example/pipelines/align"}]
    sent = data["request"]
    assert (sent["method"], sent["url"]) == ("POST", "https://toy.example/runs")
    assert sent["body"] == {"pipeline": "p-1", "params": {"threads": 4}}
    assert SECRET not in json.dumps(data)
    assert len(platform.seen) == 1


def test_verbose_logs_each_request_to_stderr_without_secrets(
    cli: Any, platform: Platform, toy_spec: str
) -> None:
    quiet = cli("launch", toy_spec, "--wait")
    assert quiet.code == 0, quiet.err
    assert quiet.err == ""
    loud = cli("-v", "launch", toy_spec, "--wait")
    assert loud.code == 0, loud.err
    logged = loud.err.splitlines()
    assert any("GET https://toy.example/pipelines/align -> 200" in line for line in logged)
    assert any("POST https://toy.example/runs -> 201" in line for line in logged)
    assert all(line.endswith("ms)") or "ms) [" in line for line in logged), logged
    assert SECRET not in loud.err + loud.out
    assert loud.out.splitlines()[0] == "toy:r-1"


def test_runhub_log_debug_turns_logging_on(
    cli: Any, platform: Platform, toy_spec: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNHUB_LOG", "debug")
    result = cli("status", "toy:r-1")
    assert result.code == 0
    assert "GET https://toy.example/runs/r-1 -> 200" in result.err


@pytest.mark.parametrize(("status", "code"), [(401, 3), (403, 3), (404, 4), (500, 4)])
def test_platform_errors_map_to_exit_codes(
    cli: Any, platform: Platform, status: int, code: int
) -> None:
    platform.fail = status
    line = cli("status", "toy:r-1").fails(code, f"GET https://toy.example/runs/r-1 -> {status}")
    assert SECRET not in line
