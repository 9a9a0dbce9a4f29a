"""Settings, auth, error mapping and fault handling."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from runhub_codeocean.backend import CodeOceanBackend
from runhub_codeocean.emulator import CodeOceanEmulator
from runhub_codeocean.settings import CodeOceanSettings, api_base

from runhub.backend import RunRef
from runhub.client import Client
from runhub.config import load_settings
from runhub.errors import AuthError, ConfigError, NotFound, PlatformError, SpecError
from runhub.state import RunState
from runhub.testing.emulator import FaultPlan, mock_transport

from .conftest import DEFAULT_TOKEN, FAST, QC_CAPSULE, make_client, plugins, spec

SECRET = "cop_SECRET_token_9f8e7d"


def test_backend_needs_no_settings_until_an_operation() -> None:
    with Client(plugins=plugins()) as client:
        backend = client.backend("codeocean")  # `runhub backends` path: no credentials
        assert backend.secrets() == []
        client.validate(spec(), "codeocean")
        with pytest.raises(ConfigError) as caught:
            client.launch(spec(), "codeocean")
    assert "CODEOCEAN_URL" in str(caught.value)
    assert "CODEOCEAN_API_TOKEN" in str(caught.value)


def test_only_the_missing_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEOCEAN_URL", "https://codeocean.acme.com")
    settings = load_settings(CodeOceanSettings)
    with pytest.raises(ConfigError) as caught:
        settings.endpoint()
    assert "CODEOCEAN_API_TOKEN" in str(caught.value)
    assert "CODEOCEAN_URL" not in str(caught.value)


@pytest.mark.parametrize("name", ["CODEOCEAN_API_TOKEN", "API_TOKEN"])
def test_token_from_environment(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    monkeypatch.setenv("CODEOCEAN_URL", "https://codeocean.acme.com")
    monkeypatch.setenv(name, SECRET)
    endpoint = load_settings(CodeOceanSettings).endpoint()
    assert endpoint.base == "https://codeocean.acme.com/api/v1/"
    assert SECRET not in repr(endpoint)
    assert "Min-Server-Version" not in endpoint.headers


def test_codeocean_token_wins_over_api_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "other")
    monkeypatch.setenv("CODEOCEAN_API_TOKEN", SECRET)
    settings = load_settings(CodeOceanSettings)
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == SECRET


def test_profile_table_is_read(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        CodeOceanSettings, profile={"url": "https://co.example.org", "api_token": SECRET}
    )
    assert settings.endpoint().base == "https://co.example.org/api/v1/"


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://codeocean.acme.com", "https://codeocean.acme.com/api/v1/"),
        ("https://codeocean.acme.com/", "https://codeocean.acme.com/api/v1/"),
        ("codeocean.acme.com", "https://codeocean.acme.com/api/v1/"),
        ("https://acme.com/co/api/v1", "https://acme.com/co/api/v1/"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123/api/v1/"),
        ("http://localhost:8123", "http://localhost:8123/api/v1/"),
        ("http://[::1]:8123", "http://[::1]:8123/api/v1/"),
    ],
)
def test_api_base(url: str, base: str) -> None:
    assert api_base(url) == base


@pytest.mark.parametrize("url", ["http://codeocean.acme.com", "ftp://x.org", "http://10.0.0.1"])
def test_plain_http_only_to_loopback(url: str) -> None:
    with pytest.raises(ConfigError, match="https"):
        api_base(url)


def test_secrets_include_the_basic_credential() -> None:
    backend = CodeOceanBackend(CodeOceanSettings(url="https://co.example.org", api_token=SECRET))
    secrets = backend.secrets()
    assert SECRET in secrets
    assert backend.endpoint().headers["Authorization"] == f"Basic {secrets[1]}"


def test_wrong_token_is_an_auth_error_without_the_token(app: CodeOceanEmulator) -> None:
    with make_client(app, token=SECRET) as client, pytest.raises(AuthError) as caught:
        client.launch(spec())
    assert caught.value.status == 401
    assert SECRET not in str(caught.value)
    assert "CODEOCEAN_API_TOKEN" in str(caught.value)


def test_old_quoted_auth_form_is_rejected(app: CodeOceanEmulator) -> None:
    quoted = httpx.BasicAuth(f"'{DEFAULT_TOKEN}", "'")
    request = httpx.Request("GET", "http://127.0.0.1/api/v1/computations/x")
    request = next(quoted.auth_flow(request))
    assert app.handle(request).status_code == 401


def test_platform_message_becomes_the_error(client: Client) -> None:
    with pytest.raises(PlatformError) as caught:
        client.launch(spec(QC_CAPSULE, parameters={"no_such_param": 1}))
    assert caught.value.status == 400
    assert caught.value.detail is not None
    assert "unknown parameter 'no_such_param'" in caught.value.detail
    assert "no_such_param" in str(caught.value)


def test_unknown_computation_is_not_found(client: Client) -> None:
    with pytest.raises(NotFound):
        client.status("codeocean:00000000-0000-0000-0000-000000000000")


def test_html_502_gives_a_short_excerpt(app: CodeOceanEmulator) -> None:
    faults = FaultPlan(1.0, ["502"], only=["GET"])
    with make_client(app, faults) as client:
        ref = client.launch(spec()).ref
        with pytest.raises(PlatformError) as caught:
            client.status(ref)
    text = str(caught.value)
    assert "502 Bad Gateway" in text
    assert "<html>" not in text
    assert "Traceback" not in text
    assert len(text) < 300


def test_error_for_non_json_body() -> None:
    backend = CodeOceanBackend(CodeOceanSettings())
    response = httpx.Response(
        500, text="<html><body><h1>Internal error</h1>" + "x" * 900 + "</body></html>"
    )
    error = backend.error_for(response, "GET https://co/api/v1/computations/1")
    assert error.status == 500
    assert error.detail is not None
    assert error.detail.startswith("Internal error")
    assert len(error.detail) <= 160


@pytest.mark.parametrize("kind", ["429", "429-no-retry-after", "503"])
def test_rate_limits_and_503_are_retried(app: CodeOceanEmulator, kind: str) -> None:
    faults = FaultPlan()
    faults.push(kind)  # one is enough: after a 429 the transport paces requests (slow)
    with make_client(app, faults) as client:
        status = client.launch(spec())
        assert client.status(status.ref).state is RunState.INITIALIZING
    assert faults.counts[kind] == 1
    assert len(app.created) == 1


def test_min_server_version_only_when_configured() -> None:
    old = CodeOceanEmulator(server_version="3.4.0")
    with make_client(old) as client:
        assert client.launch(spec()).state is RunState.INITIALIZING
    with (
        make_client(old, min_server_version="4.8.0") as client,
        pytest.raises(PlatformError) as caught,
    ):
        client.launch(spec())
    assert caught.value.status == 400


def test_agent_id_is_sent_when_configured(app: CodeOceanEmulator) -> None:
    backend = CodeOceanBackend(
        CodeOceanSettings(url="https://co.example.org", api_token=SECRET, agent_id="lims-7")
    )
    request = next(backend.status(RunRef("codeocean", "x")))
    assert request.headers["Agent-Id"] == "lims-7"
    assert request.url.path == "/api/v1/computations/x"


def test_slow_answers_still_work(app: CodeOceanEmulator) -> None:
    faults = FaultPlan(slow_seconds=0.01)
    faults.push("slow", "slow")
    with make_client(app, faults) as client:
        status = client.launch(spec())
        assert client.status(status.ref).ref == status.ref
    assert faults.counts["slow"] == 2


def test_truncated_json_after_create_recovers_the_run(app: CodeOceanEmulator) -> None:
    faults = FaultPlan(only=["POST /api/v1/computations"])
    faults.push("malformed")
    with make_client(app, faults) as client:
        status = client.launch(spec(parameters=["75"]))
    assert app.created == [status.ref.id]
    assert status.extra["recovered"] is True


def test_settings_from_the_profile_file(
    app: CodeOceanEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[lab.codeocean]\nurl = "http://127.0.0.1:9"\napi_token = "{DEFAULT_TOKEN}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("RUNHUB_CONFIG", str(config))
    with Client(
        profile="lab", transport=mock_transport(app), policy=FAST, plugins=plugins()
    ) as client:
        status = client.launch(spec())
    assert app.created == [status.ref.id]


@pytest.mark.parametrize("text", ["codeocean:../capsules/x", "codeocean:a?b=c", "codeocean:a b"])
def test_refs_that_would_change_the_url_are_rejected(client: Client, text: str) -> None:
    with pytest.raises(SpecError, match="not a Code Ocean run reference"):
        client.status(text)


def test_a_non_object_answer_is_a_platform_error(app: CodeOceanEmulator) -> None:
    class ListAnswers:
        def handle(self, request: httpx.Request) -> httpx.Response:
            return httpx.Response(200, json=["not", "a", "computation"])

    with Client(
        settings={"codeocean": {"url": "http://127.0.0.1:9", "api_token": DEFAULT_TOKEN}},
        transport=mock_transport(ListAnswers()),
        policy=FAST,
        plugins=plugins(),
    ) as client:
        with pytest.raises(PlatformError, match="instead of a computation"):
            client.status("codeocean:abc")
        with pytest.raises(PlatformError, match="instead of a computation"):
            client.launch(spec())


def test_min_server_version_as_a_spec_option() -> None:
    old = CodeOceanEmulator(server_version="3.4.0")
    with make_client(old) as client:
        with pytest.raises(PlatformError) as caught:
            client.launch(spec(options={"codeocean": {"min_server_version": "4.8.0"}}))
        assert caught.value.status == 400
        assert "does not satisfy 4.8.0" in str(caught.value)
        ok = client.launch(spec(options={"codeocean": {"min_server_version": "3.0.0"}}))
    assert old.created == [ok.ref.id]
