"""Code Ocean settings: deployment URL and access token, from flags, env or profile.

Every field is optional here so that ``runhub backends`` and ``validate`` work
without credentials; :meth:`CodeOceanSettings.endpoint` raises a ConfigError naming
the variables to set the moment an operation needs them.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass

import httpx
from pydantic import AliasChoices, Field, SecretStr

from runhub.config import BackendSettings
from runhub.errors import ConfigError

URL_VARS = "CODEOCEAN_URL"
TOKEN_VARS = "CODEOCEAN_API_TOKEN (or API_TOKEN)"


class CodeOceanSettings(BackendSettings):
    """Where the Code Ocean deployment is and how to authenticate to it."""

    url: str | None = Field(
        None,
        validation_alias=AliasChoices("CODEOCEAN_URL", "url"),
        description="Deployment URL, e.g. https://codeocean.acme.com",
    )
    api_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("CODEOCEAN_API_TOKEN", "API_TOKEN", "api_token"),
        description="Access token (sent as the HTTP Basic user name, empty password)",
    )
    min_server_version: str | None = Field(
        None,
        validation_alias=AliasChoices("CODEOCEAN_MIN_SERVER_VERSION", "min_server_version"),
        description="Send Min-Server-Version (deployments older than it answer 400)",
    )
    agent_id: str | None = Field(
        None,
        validation_alias=AliasChoices("CODEOCEAN_AGENT_ID", "agent_id"),
        description="Send Agent-Id (shown in the Code Ocean UI)",
    )

    def endpoint(self) -> Endpoint:
        """The checked API base URL and headers; ConfigError if something is missing."""
        missing = []
        if not self.url:
            missing.append(URL_VARS)
        token = self.api_token.get_secret_value() if self.api_token else ""
        if not token:
            missing.append(TOKEN_VARS)
        if missing:
            raise ConfigError(
                "Code Ocean is not configured: set " + " and ".join(missing),
                hint="or add url/api_token to the [<profile>.codeocean] table of the profile file",
            )
        assert self.url is not None
        base = api_base(self.url)
        credential = base64.b64encode(f"{token}:".encode()).decode("ascii")
        headers = {"Authorization": f"Basic {credential}", "Accept": "application/json"}
        if self.min_server_version:
            headers["Min-Server-Version"] = self.min_server_version
        if self.agent_id:
            headers["Agent-Id"] = self.agent_id
        return Endpoint(base=base, headers=headers, credential=credential)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A configured deployment: ``base`` ends in ``/api/v1/``."""

    base: str
    headers: dict[str, str]
    credential: str

    def __repr__(self) -> str:  # never show the credential
        return f"Endpoint({self.base!r})"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def api_base(url: str) -> str:
    """``https://host[:port][/prefix]`` -> ``.../api/v1/``; https only, except loopback."""
    text = url.strip()
    if "://" not in text:
        text = f"https://{text}"
    try:
        parsed = httpx.URL(text)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"CODEOCEAN_URL {url!r} is not a URL: {exc}") from None
    if not parsed.host:
        raise ConfigError(
            f"CODEOCEAN_URL {url!r} has no host", hint="e.g. https://codeocean.acme.com"
        )
    if parsed.scheme != "https" and not (parsed.scheme == "http" and _is_loopback(parsed.host)):
        raise ConfigError(
            f"CODEOCEAN_URL must use https (got {parsed.scheme}://{parsed.host})",
            hint="plain http is allowed only for 127.0.0.1/localhost (the emulator)",
        )
    path = parsed.path.rstrip("/")
    if path.endswith("/api/v1"):
        path = path[: -len("/api/v1")]
    return f"{parsed.scheme}://{parsed.netloc.decode('ascii')}{path}/api/v1/"
