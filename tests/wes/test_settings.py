"""WES settings: variables, https except loopback, bearer or Basic auth, and secrets
that never show (reprs, errors, logs, dry runs)."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import httpx
import pytest

pytest.importorskip("runhub_wes", reason="runhub-wes is not installed (pip install -e plugins/wes)")

from runhub_wes.backend import WesBackend
from runhub_wes.settings import WesSettings

from runhub.client import Client
from runhub.config import load_settings
from runhub.errors import AuthError, ConfigError
from runhub.spec import RunSpec
from runhub.testing import mock_transport

from .conftest import EXAMPLES

TOKEN = "wes-test-token-91b3e7c2"
PASSWORD = "wes-test-password-4f0a"


def test_the_url_comes_from_runhub_wes_url_or_wes_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WES_URL", "https://wes.example.org/ga4gh/wes/v1/")
    assert load_settings(WesSettings).endpoint().base == "https://wes.example.org/ga4gh/wes/v1"
    monkeypatch.setenv("RUNHUB_WES_URL", "https://other.example.org/api")
    assert load_settings(WesSettings).endpoint().base == "https://other.example.org/api"
    monkeypatch.setenv("RUNHUB_WES_ENGINE", "cwltool")
    monkeypatch.setenv("RUNHUB_WES_PAGE_SIZE", "50")
    settings = load_settings(WesSettings)
    assert (settings.engine, settings.page_size) == ("cwltool", 50)


def test_a_bare_host_gets_https_and_a_profile_table_works() -> None:
    settings = load_settings(WesSettings, profile={"url": "wes.example.org/ga4gh/wes/v1"})
    assert settings.endpoint().base == "https://wes.example.org/ga4gh/wes/v1"
    assert not settings.endpoint().loopback


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/ga4gh/wes/v1", "http://localhost:1122", "http://[::1]:9"]
)
def test_plain_http_is_allowed_on_loopback(url: str) -> None:
    endpoint = WesSettings(url=url).endpoint()
    assert endpoint.loopback
    assert endpoint.base == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "phrase"),
    [
        ("http://wes.example.org/ga4gh/wes/v1", "must use https"),
        ("http://10.0.0.5:8080", "must use https"),
        ("ftp://wes.example.org", "not an http(s) URL"),
        ("https://wes.example.org/?x=1", "query"),
    ],
)
def test_other_urls_are_a_config_error(url: str, phrase: str) -> None:
    with pytest.raises(ConfigError, match=phrase.replace("(", r"\(").replace(")", r"\)")):
        WesSettings(url=url).endpoint()


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(ConfigError) as err:
        WesSettings(url=f"https://me:{PASSWORD}@wes.example.org").endpoint()
    assert PASSWORD not in str(err.value)
    assert "RUNHUB_WES_USERNAME" in str(err.value)


def test_nothing_configured_names_the_variable_to_set() -> None:
    with pytest.raises(ConfigError, match="RUNHUB_WES_URL"):
        WesSettings().endpoint()


def test_bearer_token_or_basic_credentials_become_the_authorization_header() -> None:
    bearer = WesSettings(url="https://wes.test", token=TOKEN).endpoint()
    assert bearer.headers["Authorization"] == f"Bearer {TOKEN}"
    basic = WesSettings(url="https://wes.test", username="ada", password=PASSWORD).endpoint()
    expected = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
    assert basic.headers["Authorization"] == f"Basic {expected}"
    assert basic.credentials == [expected]
    assert "Authorization" not in WesSettings(url="https://wes.test").endpoint().headers


def test_half_or_double_credentials_are_a_config_error() -> None:
    with pytest.raises(ConfigError, match="RUNHUB_WES_PASSWORD"):
        WesSettings(url="https://wes.test", username="ada").endpoint()
    with pytest.raises(ConfigError, match="both a bearer token and Basic"):
        WesSettings(url="https://wes.test", token=TOKEN, username="a", password=PASSWORD).endpoint()


def test_secrets_include_the_basic_encoded_form_and_never_show_in_reprs() -> None:
    settings = WesSettings(url="https://wes.test", username="ada", password=PASSWORD)
    backend = WesBackend(settings)
    encoded = base64.b64encode(f"ada:{PASSWORD}".encode()).decode()
    assert set(backend.secrets()) == {PASSWORD, encoded}
    for text in (repr(settings), str(settings), repr(backend), repr(backend.endpoint())):
        assert PASSWORD not in text
        assert encoded not in text


def _echo_body(request: httpx.Request) -> httpx.Response:
    """A hostile server: it quotes the request's headers back in every answer."""
    quoted = "; ".join(f"{k}: {v}" for k, v in request.headers.items())
    if request.url.path.endswith("/service-info"):
        return httpx.Response(200, json={"workflow_type_versions": {}})
    return httpx.Response(401, json={"msg": f"bad credentials ({quoted})"})


class _Hostile:
    def handle(self, request: httpx.Request) -> httpx.Response:
        return _echo_body(request)


@pytest.mark.parametrize(
    "credentials", [{"token": TOKEN}, {"username": "ada", "password": PASSWORD}]
)
def test_secrets_never_reach_errors_logs_or_dry_runs(
    credentials: dict[str, str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = {"wes": {"url": "https://wes.test", **credentials}}
    spec = RunSpec(pipeline=(EXAMPLES / "echo.cwl").as_uri(), parameters={"message": "x"})
    with Client(settings=settings, transport=mock_transport(_Hostile())) as client:
        secrets = client.backend("wes").secrets()
        assert secrets
        with pytest.raises(AuthError) as err:
            client.launch(spec, "wes")
        with pytest.raises(AuthError) as status_err:
            client.status("wes:r1")
        shown = client.dry_run(spec, "wes").render()
        texts = [str(err.value), repr(err.value), str(status_err.value), shown, caplog.text]
        texts += [r.getMessage() for r in caplog.records]
    assert "bad credentials" in str(err.value)  # the server's words do reach the user
    assert "authorization: ***" in shown.lower()
    for secret in secrets:
        for text in texts:
            assert secret not in text
