"""Settings helpers: URL checks, profiles, home."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from runhub.config import check_base_url, is_loopback, load_profile, runhub_home
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
