"""WES settings: the server's base URL and its credentials, from flags, env or profile.

Every field is optional here, so ``runhub backends`` and ``validate`` work with
nothing configured; :meth:`WesSettings.endpoint` raises a ConfigError naming the
variable to set the moment an operation needs the server.

The URL is the WES API base, up to and including the version: the spec's server
template is ``https://{host}/{basePath}/{apiVersion}`` (``/ga4gh/wes/v1`` by
default); sapporo serves the API at the root. It is used as given, never guessed at.
Plain ``http`` is refused except on loopback (a server on this machine).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr

from runhub.config import BackendSettings, is_loopback
from runhub.errors import ConfigError

URL_VARS = "RUNHUB_WES_URL (or WES_URL)"


class WesSettings(BackendSettings):
    """Where the WES server is and how to authenticate to it."""

    url: str | None = Field(
        None,
        validation_alias=AliasChoices("RUNHUB_WES_URL", "WES_URL", "url"),
        description="WES API base URL, e.g. https://wes.example.org/ga4gh/wes/v1",
    )
    token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("RUNHUB_WES_TOKEN", "WES_TOKEN", "token"),
        description="Bearer token (Authorization: Bearer ...)",
    )
    username: str | None = Field(
        None,
        validation_alias=AliasChoices("RUNHUB_WES_USERNAME", "WES_USERNAME", "username"),
        description="HTTP Basic user name (with password)",
    )
    password: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("RUNHUB_WES_PASSWORD", "WES_PASSWORD", "password"),
        description="HTTP Basic password (with username)",
    )
    engine: str | None = Field(
        None,
        validation_alias=AliasChoices("RUNHUB_WES_ENGINE", "engine"),
        description="Default workflow_engine (sapporo requires one, e.g. cwltool)",
    )
    page_size: int = Field(
        100,
        ge=1,
        le=1000,
        validation_alias=AliasChoices("RUNHUB_WES_PAGE_SIZE", "page_size"),
        description="Runs asked per GET /runs page (batch status, launch recovery)",
    )

    def endpoint(self) -> Endpoint:
        """The checked base URL and auth headers; ConfigError if something is wrong."""
        if not self.url:
            raise ConfigError(
                f"the wes backend has no server: set {URL_VARS}",
                hint="e.g. https://wes.example.org/ga4gh/wes/v1, or url in [<profile>.wes]",
            )
        base, loopback = base_url(self.url)
        headers = {"Accept": "application/json"}
        credentials: list[str] = []
        token = self.token.get_secret_value() if self.token else ""
        password = self.password.get_secret_value() if self.password else ""
        if token and (self.username or password):
            raise ConfigError(
                "the wes backend has both a bearer token and Basic credentials",
                hint="set RUNHUB_WES_TOKEN, or RUNHUB_WES_USERNAME and RUNHUB_WES_PASSWORD",
            )
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self.username or password:
            if not (self.username and password):
                missing = "RUNHUB_WES_PASSWORD" if self.username else "RUNHUB_WES_USERNAME"
                raise ConfigError(f"HTTP Basic credentials for WES need {missing} too")
            basic = base64.b64encode(f"{self.username}:{password}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {basic}"
            credentials.append(basic)
        return Endpoint(base=base, headers=headers, loopback=loopback, credentials=credentials)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A configured server: ``base`` has no trailing slash."""

    base: str
    headers: dict[str, str]
    #: The server is on this machine: its ``file://`` output locations are readable here.
    loopback: bool
    #: Derived secrets (the Basic-encoded credential), for redaction.
    credentials: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        """``base`` + ``path`` (which starts with ``/``)."""
        return self.base + path

    def same_origin(self, url: str) -> bool:
        """True if ``url`` is on this server (credentials may be sent there)."""
        mine, theirs = urlsplit(self.base), urlsplit(url)
        return (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc)

    def __repr__(self) -> str:  # never show the headers
        return f"Endpoint({self.base!r})"


def base_url(url: str) -> tuple[str, bool]:
    """The normalised base URL and whether it is on loopback; https unless loopback."""
    text = url.strip()
    if "://" not in text:
        text = f"https://{text}"
    parts = urlsplit(text)
    if "@" in parts.netloc:  # user:password@host: never echo it back
        raise ConfigError(
            "RUNHUB_WES_URL must not hold credentials",
            hint="set RUNHUB_WES_TOKEN, or RUNHUB_WES_USERNAME and RUNHUB_WES_PASSWORD",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"RUNHUB_WES_URL {url!r} is not an http(s) URL",
            hint="e.g. https://wes.example.org/ga4gh/wes/v1",
        )
    loopback = is_loopback(parts.hostname)
    if parts.scheme == "http" and not loopback:
        raise ConfigError(
            f"RUNHUB_WES_URL must use https (got http://{parts.hostname})",
            hint="plain http is allowed only for a server on 127.0.0.1/localhost",
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"RUNHUB_WES_URL {url!r} must not have a query or fragment")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}", loopback
