"""A tiny HTTP backend for exercising the transport and client without any platform."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import httpx
import pytest
import stamina
from pydantic import AliasChoices, Field, SecretStr

from runhub.backend import Backend, Capabilities, RunRef, request, response_json
from runhub.config import BackendSettings
from runhub.plugins import BackendInfo, Registry
from runhub.spec import RunSpec
from runhub.state import RunState, RunStatus

SECRET = "tok-SECRET-4f9d1c2b7a"


class ToySettings(BackendSettings):
    url: str = "https://toy.example"
    token: SecretStr | None = Field(None, validation_alias=AliasChoices("TOY_TOKEN", "token"))


class ToyBackend(Backend):
    """Launch = POST /runs (with or without an idempotency key); status = GET /runs/{id}."""

    name = "toy"
    settings_model = ToySettings
    capabilities = Capabilities(batch_status=False)
    states: ClassVar[dict[str, RunState]] = {
        "running": RunState.RUNNING,
        "done": RunState.SUCCEEDED,
    }
    use_key = False
    settings: ToySettings

    def _headers(self) -> dict[str, str]:
        token = self.settings.token
        return {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}

    def launch(self, spec: RunSpec, key: str, *, batch: str | None = None) -> Any:
        headers = self._headers()
        if self.use_key:
            headers["Idempotency-Key"] = key
        yield request("GET", f"{self.settings.url}/pipelines/{spec.pipeline}", headers=headers)
        created = yield request(
            "POST", f"{self.settings.url}/runs", json_body={"p": spec.pipeline}, headers=headers
        )
        body = response_json(created)
        return RunStatus(RunRef(self.name, body["id"]), self.state_of(body["state"]), body["state"])

    def status(self, ref: RunRef) -> Any:
        got = yield request("GET", f"{self.settings.url}/runs/{ref.id}", headers=self._headers())
        body = response_json(got)
        return RunStatus(ref, self.state_of(body["state"]), body["state"])


@pytest.fixture
def toy() -> ToyBackend:
    return ToyBackend(ToySettings(token=SecretStr(SECRET)))


Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def toy_plugins() -> Registry:
    """A registry holding only the toy backend."""
    return Registry(backends={"toy": BackendInfo(ToyBackend, "tests", None, None)})


@pytest.fixture
def retries_recorded() -> Iterator[list[Any]]:
    """Every stamina retry (RetryDetails), in order."""
    seen: list[Any] = []
    previous = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([seen.append])
    yield seen
    stamina.instrumentation.set_on_retry_hooks(previous)
