"""Settings: layering (keywords > environment > profile), URL checks, profiles, home."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import ClassVar

import pytest
from pydantic import AliasChoices, Field, SecretStr

from runhub.config import (
    BackendSettings,
    check_base_url,
    is_loopback,
    load_profile,
    load_settings,
    runhub_home,
)
from runhub.errors import ConfigError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ica.illumina.com", "https://ica.illumina.com"),
        ("https://co.acme.com/", "https://co.acme.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:9", "http://localhost:9"),
    ],
)
def test_urls_are_normalised(value: str, expected: str, caplog: pytest.LogCaptureFixture) -> None:
    assert check_base_url(value, variable="X_URL") == expected
    assert not caplog.records


def test_plain_http_elsewhere_warns(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    check_base_url("http://co.acme.com", variable="CODEOCEAN_URL")
    assert "plain http" in caplog.text
    assert "CODEOCEAN_URL" in caplog.text


@pytest.mark.parametrize("value", ["", "ftp://x", "https://"])
def test_bad_urls_are_config_errors(value: str) -> None:
    with pytest.raises(ConfigError, match="X_URL"):
        check_base_url(value, variable="X_URL")


def test_loopback_detection() -> None:
    assert is_loopback("127.8.0.1")
    assert is_loopback("[::1]")
    assert not is_loopback("10.0.0.1")
    assert not is_loopback("example.com")


def test_profiles(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    monkeypatch.setenv("RUNHUB_CONFIG", str(config))
    assert load_profile() == {}
    with pytest.raises(ConfigError, match="runhub config init"):
        load_profile("work")
    config.write_text('[work]\nbackend = "ica"\n[work.ica]\nproject_id = "p"\n')
    assert load_profile("work") == {"backend": "ica", "ica": {"project_id": "p"}}
    config.write_text("not = [valid")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_profile("work")


def test_home_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path))
    assert runhub_home() == tmp_path


class EchoSettings(BackendSettings):
    env_prefix: ClassVar[str] = "ECHO_"

    url: str = "https://echo.example.com"
    token: SecretStr | None = None
    retries: int = 3
    queues: list[str] = []
    region: str = Field("eu", validation_alias=AliasChoices("ECHO_ZONE", "region"))


def test_settings_layers_keywords_over_environment_over_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("echo_url", "https://from-env.example.com")  # names match in any case
    monkeypatch.setenv("ECHO_RETRIES", "5")
    monkeypatch.setenv("ECHO_ZONE", "us")
    monkeypatch.setenv("URL", "https://unrelated.example.com")  # not ours: no prefix
    profile = {"url": "https://from-profile.example.com", "token": "tok-profile", "retries": 1}
    settings = load_settings(EchoSettings, profile=profile, backend="echo")
    assert settings.url == "https://from-env.example.com"
    assert settings.retries == 5  # converted from text
    assert settings.region == "us"
    assert settings.secret_values() == ["tok-profile"]
    flagged = load_settings(EchoSettings, profile=profile, backend="echo", retries=9, region="ap")
    assert (flagged.retries, flagged.region) == (9, "ap")
    assert EchoSettings(ECHO_ZONE="sa").region == "sa"  # an alias works as a keyword too


def test_structured_settings_take_json_and_bad_values_name_the_field(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ECHO_QUEUES", '["fast", "slow"]')
    assert load_settings(EchoSettings, backend="echo").queues == ["fast", "slow"]
    monkeypatch.setenv("ECHO_RETRIES", "many-secret-ish")
    with pytest.raises(ConfigError) as caught:
        load_settings(EchoSettings, backend="echo")
    assert str(caught.value).startswith("echo setting ECHO_RETRIES:")  # where it came from
    assert "many-secret-ish" not in str(caught.value)


def test_env_names() -> None:
    assert EchoSettings.env_names("url") == ["ECHO_URL"]
    assert EchoSettings.env_names("region") == ["ECHO_ZONE", "region"]


def test_config_show_finds_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from runhub.cli.helpers.settingsview import effective
    from runhub.local.backend import LocalSettings

    monkeypatch.setenv("RUNHUB_LOCAL_CANCEL_GRACE", "3")
    shown = effective("local", LocalSettings, flags={}, profile={}, profile_name="default")
    grace = next(s for s in shown if s.field == "cancel_grace")
    assert (grace.value, grace.source) == ("3", "env RUNHUB_LOCAL_CANCEL_GRACE")
    assert load_settings(LocalSettings, backend="local").cancel_grace == 3.0
