"""Issue 12 item 10: the API key is exchanged for a JWT once per process and kept secret.

Spec: info text "JWT" (the preferred way; an API-key call costs ICA an identity-provider
round trip) and operation ``createJwtToken`` (``POST /api/tokens`` -> ``Token``).
Before the fix every request carried ``X-API-Key`` and no token was ever made.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from runhub_ica.auth import TOKENS, Credentials, Token, expiry_of
from runhub_ica.emulator import IcaEmulator, seed
from runhub_ica.emulator.tokens import Tokens
from runhub_ica.settings import IcaSettings

from runhub.aio import AsyncClient
from runhub.errors import NotFound, PlatformError
from runhub.testing.emulator import Clock, FaultPlan, mock_transport

from .conftest import API_KEY, FAST, URL, make_client, plugins, spec


def minted(app: IcaEmulator) -> int:
    return app.log.count("POST /ica/rest/api/tokens")


def test_a_batch_authenticates_once(app: IcaEmulator) -> None:
    with make_client(app) as client:
        refs = [client.launch(spec(name=f"s {i}"), batch="b").ref for i in range(6)]
        client.statuses(refs)
        client.status(refs[0])
    with make_client(app) as again:  # another client in the same process: same JWT
        again.status(refs[1])
    assert minted(app) == 1
    assert app.auth["api-key"] == 1  # only POST /api/tokens saw the key
    assert app.auth["jwt"] == len(app.log) - 1


def test_concurrent_launches_share_one_token_request(app: IcaEmulator) -> None:
    async def main() -> None:
        settings = {"server_url": URL, "x_api_key": API_KEY, "project_id": seed.PROJECT_ID}
        async with AsyncClient(
            settings={"ica": settings},
            transport=mock_transport(app),
            policy=FAST,
            plugins=plugins(),
        ) as client:
            await client.launch_many([spec(name=f"row {i}") for i in range(20)])

    asyncio.run(main())
    assert len(app.analyses) == 20
    assert minted(app) == 1
    assert app.auth["api-key"] == 1


@pytest.mark.parametrize("status", [401, 403, 404, 405, 501])
def test_where_tokens_are_refused_the_key_is_used_and_that_is_remembered(status: int) -> None:
    app = IcaEmulator(Clock(), refuse_tokens=status)
    with make_client(app) as client:
        ref = client.launch(spec()).ref
        client.status(ref)
    with make_client(app) as client:
        client.status(ref)
    assert minted(app) == 1  # asked once per process
    assert app.auth["jwt"] == 0
    assert app.auth["api-key"] == len(app.log)


class BrokenTokens:
    """ICA whose token endpoint alone answers 500 (a server bug) the first time."""

    def __init__(self, app: IcaEmulator) -> None:
        self.app = app
        self.broken = 1

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/api/tokens") and self.broken:
            self.broken -= 1
            return httpx.Response(500, json={"title": "ICA_EMU_BUG", "status": 500})
        return self.app.handle(request)


def test_a_token_failure_of_another_kind_falls_back_for_that_operation_only(
    app: IcaEmulator,
) -> None:
    with make_client(BrokenTokens(app)) as client:  # type: ignore[arg-type]
        ref = client.launch(spec()).ref  # with the key
        client.status(ref)  # asks again, gets a JWT
    assert app.auth["jwt"] == 1  # the status, after a second, good token request
    assert app.auth["api-key"] == len(app.log) - 1  # the launch's requests and the mint


def test_a_platform_that_is_down_costs_one_retry_budget(app: IcaEmulator) -> None:
    faults = FaultPlan(1.0, ["503"])
    with make_client(app, faults) as client, pytest.raises(PlatformError) as info:
        client.launch(spec())
    assert info.value.status == 503
    assert faults.counts["503"] == FAST.attempts  # the token request's tries only
    assert app.log == []


def test_the_token_is_renewed_before_it_expires(
    app: IcaEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with make_client(app) as client:
        ref = client.launch(spec()).ref
        first = Credentials(client.backend("ica").settings).token()
        assert first is not None
        exp, _ = expiry_of(first)
        assert exp is not None
        monkeypatch.setattr(TOKENS, "now", lambda: exp - 60)  # inside the renewal margin
        app.tokens.lifetime = 7200  # the new token outlives the clock set above
        client.status(ref)
        second = Credentials(client.backend("ica").settings).token()
    assert minted(app) == 2
    assert second is not None
    assert second != first


def test_a_revoked_token_is_renewed_once_and_the_operation_runs_again(app: IcaEmulator) -> None:
    with make_client(app) as client:
        ref = client.launch(spec()).ref
        app.tokens = Tokens()  # a new signing key: every JWT issued so far is refused
        status = client.status(ref)
    assert status.ref == ref
    assert minted(app) == 2
    assert len(app.analyses) == 1


def test_a_token_without_readable_claims_is_kept_until_refused() -> None:
    token = Token.of("opaque-token")
    assert token.renew_at is None
    assert "opaque" not in repr(token)


def test_the_jwt_never_shows(app: IcaEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with make_client(app) as client:
        status = client.launch(spec())
        backend = client.backend("ica")
        jwt = Credentials(backend.settings).token()
        assert jwt is not None
        assert jwt in backend.secrets()
        with pytest.raises(NotFound) as info:
            client.status(f"ica:{seed.PROJECT_ID}/00000000-0000-4000-8000-000000000000")
        dry = client.dry_run(spec(name="dry"))
        shown = dry.render(client.redact)
        assert "Bearer ***" in shown or "authorization: ***" in shown.lower()
        texts = [shown, str(info.value), repr(backend), repr(TOKENS), repr(status), caplog.text]
        texts += [client.redact(f"token {jwt}")]
    for text in texts:
        assert jwt not in text
        assert API_KEY not in text
        assert jwt[:20] not in text  # not even the JWT's header and the start of its claims


def test_settings_without_a_key_send_the_configured_token(app: IcaEmulator) -> None:
    with make_client(app, x_api_key=None, access_token="opaque-access-token") as client:
        client.launch(spec())
    assert minted(app) == 0
    assert app.auth["bearer"] == len(app.log)


def test_credentials_repr_hides_everything() -> None:
    creds = Credentials(IcaSettings(x_api_key="k-secret-1234", project_id=seed.PROJECT_ID))
    assert "k-secret" not in repr(creds)
