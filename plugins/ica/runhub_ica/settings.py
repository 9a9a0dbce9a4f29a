"""ICA settings: the variables ICA users already have (``ICAV2_*``), or the profile file.

Credentials and the project are checked when an operation needs them, not when the
settings load, so ``runhub backends`` works on a machine without credentials.
"""

from __future__ import annotations

import functools
import ipaddress

import httpx
from pydantic import AliasChoices, Field, SecretStr, field_validator

from runhub.config import BackendSettings
from runhub.errors import ConfigError

DEFAULT_SERVER = "ica.illumina.com"
API_ROOT = "/ica/rest"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@functools.lru_cache(maxsize=64)  # every request asks; parsing the URL each time showed in bench/
def base_url(server_url: str) -> str:
    """``https://host/ica/rest`` from a host name or a full URL.

    Plain ``http`` is accepted only for loopback hosts (the emulator); ``/ica/rest``
    is appended unless the URL already ends with it.
    """
    text = server_url.strip().rstrip("/")
    if not text:
        text = DEFAULT_SERVER
    if "://" not in text:
        text = f"https://{text}"
    url = httpx.URL(text)
    if url.scheme not in ("https", "http") or not url.host:
        raise ValueError(f"{server_url!r} is not a host name or an http(s) URL")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ValueError("plain http is allowed only for 127.0.0.1/localhost; use https")
    path = url.path.rstrip("/")
    if not path.endswith(API_ROOT):
        path += API_ROOT
    return str(url.copy_with(path=path, query=None, fragment=None))


class IcaSettings(BackendSettings):
    """Settings of the ``ica`` backend (environment > profile table ``[<profile>.ica]``)."""

    server_url: str = Field(
        DEFAULT_SERVER, validation_alias=AliasChoices("ICAV2_SERVER_URL", "server_url")
    )
    x_api_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ICAV2_X_API_KEY", "x_api_key")
    )
    access_token: SecretStr | None = Field(
        None, validation_alias=AliasChoices("ICAV2_ACCESS_TOKEN", "access_token")
    )
    project_id: str | None = Field(
        None, validation_alias=AliasChoices("ICAV2_PROJECT_ID", "project_id")
    )
    #: Page size for ``analysis:search`` (1000 is what ICA clients use in production).
    page_size: int = Field(1000, ge=1, le=1000)
    #: Rows per ``analysisCreationBatch`` request (docs/ica.md). The spec states no
    #: maximum; 100 keeps a request near 100-200 KB (well under common gateway body
    #: limits), sends 1000 runs in 10 requests, and isolates a refused row in at most
    #: 7 splits. A "too large" answer from ICA halves it for the rest of the session.
    creation_batch_size: int = Field(
        100,
        ge=1,
        le=10_000,
        validation_alias=AliasChoices("RUNHUB_ICA_CREATION_BATCH_SIZE", "creation_batch_size"),
    )
    #: Uploads (docs/data.md): where local mounts go, and how files travel.
    staging_folder: str = Field(
        "/runhub/staging/",
        validation_alias=AliasChoices("RUNHUB_ICA_STAGING_FOLDER", "staging_folder"),
    )
    multipart_threshold: int = Field(
        64 << 20,
        ge=5 << 20,
        validation_alias=AliasChoices("RUNHUB_ICA_MULTIPART_THRESHOLD", "multipart_threshold"),
    )
    part_size: int = Field(
        16 << 20, ge=5 << 20, validation_alias=AliasChoices("RUNHUB_ICA_PART_SIZE", "part_size")
    )
    part_concurrency: int = Field(
        8,
        ge=1,
        le=64,
        validation_alias=AliasChoices("RUNHUB_ICA_PART_CONCURRENCY", "part_concurrency"),
    )

    @field_validator("staging_folder")
    @classmethod
    def _staging_folder(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must be an absolute project path such as /runhub/staging/")
        return value if value.endswith("/") else value + "/"

    @field_validator("server_url")
    @classmethod
    def _server_url(cls, value: str) -> str:
        base_url(value)  # raises ValueError -> ConfigError naming the field
        return value

    @property
    def api_base(self) -> str:
        """The REST root, e.g. ``https://ica.illumina.com/ica/rest``."""
        return base_url(self.server_url)

    def auth_headers(self) -> dict[str, str]:
        """``X-API-Key`` or ``Authorization: Bearer``; else ConfigError naming the variables."""
        if self.x_api_key is not None and self.x_api_key.get_secret_value():
            return {"X-API-Key": self.x_api_key.get_secret_value()}
        if self.access_token is not None and self.access_token.get_secret_value():
            return {"Authorization": f"Bearer {self.access_token.get_secret_value()}"}
        raise ConfigError(
            "no ICA credentials: set ICAV2_X_API_KEY (an API key) or ICAV2_ACCESS_TOKEN (a JWT)",
            hint="or x_api_key / access_token in the [<profile>.ica] table of the runhub profile",
        )

    def project(self, override: str | None = None) -> str:
        """The project id: the spec's ``options.ica.project``, else ``ICAV2_PROJECT_ID``."""
        project = override or self.project_id
        if not project:
            raise ConfigError(
                "no ICA project: set ICAV2_PROJECT_ID or options.ica.project in the spec",
                hint="or project_id in the [<profile>.ica] table of the runhub profile",
            )
        return project
