"""Client and AsyncClient over a small stateful toy platform (MockTransport, no sockets)."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any, ClassVar

import httpx
import pytest

from runhub.client import AsyncClient, Client, PollSchedule, new_batch_id
from runhub.errors import ConfigError, SpecError, Unsupported, WaitTimeout
from runhub.plugins import Registry
from runhub.spec import RunSpec
from runhub.state import RunState
from runhub.transport import RetryPolicy

from .conftest import SECRET

FAST_POLL = PollSchedule(initial=0.001, factor=1.0, cap=0.001, jitter=0.0)
POLICY = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.02, wait_jitter=0.0)


class ToyPlatform:
    """Runs move running -> done after ``polls_to_finish`` status reads."""

    def __init__(self, polls_to_finish: int = 2) -> None:
        self.polls_to_finish = polls_to_finish
        self.runs: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()

    def handle(self, req: httpx.Request) -> httpx.Response:
        if req.url.path.startswith("/pipelines/"):
            return httpx.Response(200, json={})
        if req.method == "POST" and req.url.path == "/runs":
            run_id = f"r{len(self.runs) + 1}"
            self.runs[run_id] = 0
            return httpx.Response(201, json={"id": run_id, "state": "running"})
        run_id = req.url.path.rsplit("/", 1)[-1]
        if run_id not in self.runs:
            return httpx.Response(404, json={"message": "no such run"})
        self.runs[run_id] += 1
        state = "done" if self.runs[run_id] >= self.polls_to_finish else "running"
        return httpx.Response(200, json={"id": run_id, "state": state})

    async def ahandle(self, req: httpx.Request) -> httpx.Response:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await asyncio.sleep(0.005)  # let launches overlap so concurrency is observable
        try:
            return self.handle(req)
        finally:
            with self.lock:
                self.in_flight -= 1


SETTINGS = {"toy": {"token": SECRET}}


@pytest.fixture
def platform() -> ToyPlatform:
    return ToyPlatform()


@pytest.fixture
def client(platform: ToyPlatform, toy_plugins: Registry) -> Any:
    with Client(
        settings=SETTINGS,
        transport=httpx.MockTransport(platform.handle),
        plugins=toy_plugins,
        policy=POLICY,
    ) as c:
        yield c


def test_launch_status_wait(client: Client) -> None:
    launched = client.launch(RunSpec(pipeline="p"), "toy")
    assert str(launched.ref) == "toy:r1"
    assert client.status("toy:r1").state is RunState.RUNNING
    final = client.wait(launched.ref, poll=FAST_POLL)
    assert final.state is RunState.SUCCEEDED
    assert final.ok


def test_wait_timeout_leaves_the_run_alone(client: Client, platform: ToyPlatform) -> None:
    platform.polls_to_finish = 10**6
    launched = client.launch(RunSpec(pipeline="p"), "toy")
    with pytest.raises(WaitTimeout) as caught:
        client.wait(launched.ref, timeout=0.05, poll=FAST_POLL)
    assert caught.value.exit_code == 124
    assert caught.value.last.state is RunState.RUNNING
    assert "left running" in str(caught.value)


def test_backend_comes_from_spec_then_default(client: Client) -> None:
    assert client.backend_name(RunSpec(pipeline="p", backend="toy")) == "toy"
    assert client.backend_name(RunSpec(pipeline="p")) == "local"
    assert client.backend_name(RunSpec(pipeline="p", backend="toy"), "other") == "other"


def test_unknown_backend_is_a_config_error(client: Client) -> None:
    with pytest.raises(ConfigError, match="unknown backend 'nope'"):
        client.launch(RunSpec(pipeline="p"), "nope")


def test_capabilities_are_checked(client: Client, toy_plugins: Registry) -> None:
    toy = toy_plugins.get("toy")
    toy.capabilities = toy.capabilities.model_copy(update={"cancel": False})
    try:
        with pytest.raises(Unsupported, match="cannot cancel"):
            client.cancel("toy:r1")
    finally:
        toy.capabilities = toy.capabilities.model_copy(update={"cancel": True})


def test_validation_happens_before_any_request(client: Client, platform: ToyPlatform) -> None:
    toy = client.backend("toy")
    toy.capabilities = toy.capabilities.model_copy(update={"ordered_parameters": False})
    try:
        with pytest.raises(SpecError, match="named parameters only"):
            client.launch(RunSpec(pipeline="p", parameters=["1"]), "toy")
    finally:
        toy.capabilities = type(toy).capabilities
    assert platform.runs == {}


def test_dry_run_sends_nothing_mutating(client: Client, platform: ToyPlatform) -> None:
    result = client.dry_run(RunSpec(pipeline="p"), "toy")
    assert result.request is not None
    assert result.request.method == "POST"
    assert platform.runs == {}
    assert SECRET not in result.render(client.redact)


def test_statuses_keeps_the_order_asked(client: Client) -> None:
    for _ in range(3):
        client.launch(RunSpec(pipeline="p"), "toy")
    got = client.statuses(["toy:r3", "toy:r1", "toy:r2"])
    assert [str(s.ref) for s in got] == ["toy:r3", "toy:r1", "toy:r2"]


def test_launch_from_a_spec_file(client: Client, tmp_path: Any) -> None:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"pipeline": "p", "backend": "toy"}))
    assert client.launch(path).ref.backend == "toy"


def test_settings_precedence_flag_env_profile(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, toy_plugins: Registry
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[default.toy]\nurl = "https://profile"\ntoken = "from-profile"\n')
    monkeypatch.setenv("RUNHUB_CONFIG", str(config))
    assert Client(plugins=toy_plugins).backend("toy").settings.url == "https://profile"  # type: ignore[attr-defined]
    monkeypatch.setenv("TOY_TOKEN", "from-env")
    token = Client(plugins=toy_plugins).backend("toy").settings.token  # type: ignore[attr-defined]
    assert token.get_secret_value() == "from-env"
    flagged = Client(plugins=toy_plugins, settings={"toy": {"token": "from-flag"}})
    assert flagged.backend("toy").settings.token.get_secret_value() == "from-flag"  # type: ignore[attr-defined]
    assert "from-flag" not in repr(flagged) + repr(flagged.backend("toy").settings)


def test_unknown_profile_is_a_config_error(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, toy_plugins: Registry
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[default]\n[work]\n")
    monkeypatch.setenv("RUNHUB_CONFIG", str(config))
    with pytest.raises(ConfigError, match="profile 'staging' not found"):
        Client(plugins=toy_plugins, profile="staging").backend("toy")


# -- async -------------------------------------------------------------------------


def aclient(platform: ToyPlatform, plugins: Registry) -> AsyncClient:
    return AsyncClient(
        settings=SETTINGS,
        transport=httpx.MockTransport(platform.ahandle),
        plugins=plugins,
        policy=POLICY,
    )


async def test_launch_many_bounds_concurrency(platform: ToyPlatform, toy_plugins: Registry) -> None:
    async with aclient(platform, toy_plugins) as client:
        specs = [RunSpec(pipeline="p") for _ in range(20)]
        launched = await client.launch_many(specs, "toy", concurrency=4)
    assert len(launched) == 20
    assert len({s.ref for s in launched}) == 20
    assert len(platform.runs) == 20
    assert 1 < platform.max_in_flight <= 4


async def test_launch_many_validates_everything_first(
    platform: ToyPlatform, toy_plugins: Registry
) -> None:
    async with aclient(platform, toy_plugins) as client:
        specs: list[Any] = [RunSpec(pipeline="p"), "/nonexistent/spec.yaml"]
        with pytest.raises(SpecError):
            await client.launch_many(specs, "toy")
    assert platform.runs == {}


async def test_launch_many_returns_failures_in_place(
    platform: ToyPlatform, toy_plugins: Registry
) -> None:
    async with aclient(platform, toy_plugins) as client:
        results = await client.launch_many(
            [RunSpec(pipeline="p")] * 3, "toy", return_exceptions=True, batch=new_batch_id()
        )
    assert all(getattr(r, "state", None) is RunState.RUNNING for r in results)


async def test_watch_yields_each_change_until_all_terminal(
    platform: ToyPlatform, toy_plugins: Registry
) -> None:
    async with aclient(platform, toy_plugins) as client:
        launched = await client.launch_many([RunSpec(pipeline="p")] * 3, "toy")
        seen = [s async for s in client.watch([s.ref for s in launched], poll=FAST_POLL)]
    finals = {str(s.ref): s.state for s in seen if s.is_terminal}
    assert finals == {
        "toy:r1": RunState.SUCCEEDED,
        "toy:r2": RunState.SUCCEEDED,
        "toy:r3": RunState.SUCCEEDED,
    }
    # Each run is reported once RUNNING and once SUCCEEDED, never repeated unchanged.
    assert len(seen) == 6


async def test_async_wait_and_timeout(platform: ToyPlatform, toy_plugins: Registry) -> None:
    async with aclient(platform, toy_plugins) as client:
        first = await client.launch(RunSpec(pipeline="p"), "toy")
        assert (await client.wait(first.ref, poll=FAST_POLL)).ok
        platform.polls_to_finish = 10**6
        second = await client.launch(RunSpec(pipeline="p"), "toy")
        with pytest.raises(WaitTimeout):
            await client.wait(second.ref, timeout=0.05, poll=FAST_POLL)


async def test_no_http_backends_run_off_the_event_loop() -> None:
    import threading

    from runhub.backend import Backend, Capabilities, RunRef
    from runhub.config import BackendSettings
    from runhub.plugins import BackendInfo
    from runhub.state import RunStatus

    class Blocking(Backend):
        name = "blocking"
        settings_model = BackendSettings
        capabilities = Capabilities(http=False)
        threads: ClassVar[list[int]] = []

        def status(self, ref: RunRef) -> RunStatus:
            self.threads.append(threading.get_ident())
            return RunStatus(ref, RunState.RUNNING)

    plugins = Registry(backends={"blocking": BackendInfo(Blocking, "tests", None, None)})
    async with AsyncClient(plugins=plugins) as client:
        await client.status("blocking:1")
        await client.statuses(["blocking:2", "blocking:3"])
    assert len(Blocking.threads) == 3
    assert threading.get_ident() not in Blocking.threads


def test_wait_reports_each_change_once(client: Client, platform: ToyPlatform) -> None:
    platform.polls_to_finish = 3
    launched = client.launch(RunSpec(pipeline="p"), "toy")
    seen: list[RunState] = []
    final = client.wait(launched.ref, poll=FAST_POLL, on_change=lambda s: seen.append(s.state))
    assert final.ok
    assert seen == [RunState.RUNNING, RunState.SUCCEEDED]


class FlakyPlatform(ToyPlatform):
    """Answers the next ``outage`` status reads with 503, then recovers."""

    outage = 0

    def handle(self, req: httpx.Request) -> httpx.Response:
        if req.method == "GET" and req.url.path.startswith("/runs/") and self.outage > 0:
            self.outage -= 1
            return httpx.Response(503, text="Service Unavailable")
        return super().handle(req)


async def test_watch_outlasts_a_poll_that_failed_past_its_retries(toy_plugins: Registry) -> None:
    platform = FlakyPlatform()
    async with aclient(platform, toy_plugins) as client:
        run = await client.launch(RunSpec(pipeline="p"), "toy")
        platform.outage = POLICY.attempts + 1  # the first poll fails whole, the next recovers
        seen = [s async for s in client.watch([run.ref], poll=FAST_POLL)]
    assert seen[-1].state is RunState.SUCCEEDED
    assert platform.outage == 0


async def test_watch_gives_up_on_a_platform_that_keeps_failing(toy_plugins: Registry) -> None:
    from runhub.aio import WATCH_PATIENCE
    from runhub.errors import PlatformError

    platform = FlakyPlatform()
    async with aclient(platform, toy_plugins) as client:
        run = await client.launch(RunSpec(pipeline="p"), "toy")
        platform.outage = 10**6
        with pytest.raises(PlatformError):
            _ = [s async for s in client.watch([run.ref], poll=FAST_POLL)]
    assert 10**6 - platform.outage == WATCH_PATIENCE * POLICY.attempts
