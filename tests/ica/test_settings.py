"""ICA settings: ICAV2_* variables, profile file, URL rules, lazy credential checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from runhub_ica.backend import IcaBackend
from runhub_ica.settings import IcaSettings, base_url

from runhub.config import load_settings
from runhub.errors import ConfigError

from .conftest import plugins


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("ica.illumina.com", "https://ica.illumina.com/ica/rest"),
        ("https://ica.illumina.com/", "https://ica.illumina.com/ica/rest"),
        ("https://ica.illumina.com/ica/rest", "https://ica.illumina.com/ica/rest"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123/ica/rest"),
        ("http://localhost:8123/ica/rest/", "http://localhost:8123/ica/rest"),
        ("https://proxy.example.org/prefix", "https://proxy.example.org/prefix/ica/rest"),
    ],
)
def test_base_url(server: str, expected: str) -> None:
    assert base_url(server) == expected


@pytest.mark.parametrize("server", ["http://ica.illumina.com", "ftp://x.org", "http://10.0.0.1"])
def test_insecure_or_odd_urls_are_config_errors(server: str) -> None:
    with pytest.raises(ConfigError, match="server_url"):
        load_settings(IcaSettings, backend="ica", server_url=server)


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICAV2_SERVER_URL", "http://127.0.0.1:5000")
    monkeypatch.setenv("ICAV2_X_API_KEY", "env-key-123")
    monkeypatch.setenv("ICAV2_PROJECT_ID", "proj-1")
    settings = load_settings(IcaSettings, backend="ica")
    assert settings.api_base == "http://127.0.0.1:5000/ica/rest"
    assert settings.auth_headers() == {"X-API-Key": "env-key-123"}
    assert settings.project() == "proj-1"
    assert settings.project("from-spec") == "from-spec"
    assert "env-key-123" not in repr(settings)
    assert IcaBackend(settings).secrets() == ["env-key-123"]


def test_access_token_is_a_bearer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ICAV2_ACCESS_TOKEN", "jwt.abc.def")
    settings = load_settings(IcaSettings, backend="ica")
    assert settings.auth_headers() == {"Authorization": "Bearer jwt.abc.def"}


def test_profile_table_below_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    profile = {"server_url": "http://127.0.0.1:7000", "x_api_key": "profile-key",
               "project_id": "profile-project"}  # fmt: skip
    settings = load_settings(IcaSettings, profile=profile, backend="ica")
    assert settings.api_base == "http://127.0.0.1:7000/ica/rest"
    assert settings.project() == "profile-project"
    monkeypatch.setenv("ICAV2_PROJECT_ID", "env-project")
    assert load_settings(IcaSettings, profile=profile, backend="ica").project() == "env-project"


def test_profile_file_through_the_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runhub.client import Client

    config = tmp_path / "config.toml"
    config.write_text(
        '[default.ica]\nserver_url = "http://127.0.0.1:7001"\nx_api_key = "file-key"\n'
        'project_id = "file-project"\n'
    )
    monkeypatch.setenv("RUNHUB_CONFIG", str(config))
    with Client(plugins=plugins()) as client:
        backend = client.backend("ica")
    assert isinstance(backend, IcaBackend)
    assert backend.settings.project() == "file-project"
    assert backend.settings.auth_headers() == {"X-API-Key": "file-key"}


def test_backend_builds_without_credentials() -> None:
    """``runhub backends`` must work on a machine without ICA credentials."""
    backend = IcaBackend(load_settings(IcaSettings, backend="ica"))
    assert backend.name == "ica"
    assert backend.capabilities.batch_status
    with pytest.raises(ConfigError, match="ICAV2_X_API_KEY") as info:
        backend.settings.auth_headers()
    assert "ICAV2_ACCESS_TOKEN" in str(info.value)
    with pytest.raises(ConfigError, match="ICAV2_PROJECT_ID"):
        backend.settings.project()


def test_entry_point_registers_the_backend() -> None:
    from runhub.plugins import registry

    assert registry().get("ica") is IcaBackend
