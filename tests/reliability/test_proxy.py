"""Every command honours the environment's proxies as httpx does (issue 13 item 6).

A real forward proxy process (forward_proxy.py, 127.0.0.1) stands between runhub
and the Code Ocean emulator: with ``HTTP_PROXY`` (or ``ALL_PROXY``) set, every
command's requests pass through it, the async ones (``batch``, ``wait``,
``wait --batch``, ``runs --refresh``: runhub's own connection pool) as well as the
sync ones; a dead proxy fails them all; ``NO_PROXY`` sends them direct.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from invoke import cli_run
from runhub_codeocean.emulator import DEFAULT_TOKEN, CodeOceanEmulator

from runhub.testing.emulator import Clock, EmulatorServer

HERE = Path(__file__).resolve().parent
SPEC = HERE.parents[1] / "examples" / "codeocean" / "art-ordered.yaml"
PROXY_VARIABLES = [
    name
    for base in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
    for name in (base, base.lower())
]


@dataclass
class Proxy:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def forwarded(self) -> list[str]:
        return self.log.read_text().splitlines()


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    log = tmp_path / "proxy.log"
    log.touch()
    process = subprocess.Popen(
        [sys.executable, str(HERE / "forward_proxy.py"), str(log)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    try:
        yield Proxy(int(process.stdout.readline()), log)
    finally:
        process.stdin.close()  # the proxy exits when its stdin closes
        process.wait(timeout=10)


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with EmulatorServer(CodeOceanEmulator(clock=Clock(speed=5000))) as server:
        monkeypatch.setenv("CODEOCEAN_URL", server.url)
        monkeypatch.setenv("CODEOCEAN_API_TOKEN", DEFAULT_TOKEN)
        yield server.url


def _batch(tmp_path: Path) -> tuple[str, str]:
    template = tmp_path / "t.yaml"
    text = SPEC.read_text().replace('["75", 1, HS25]', '["{n}", 1, HS25]')
    template.write_text(text.replace("name: art-sim-75bp-1x", "name: 'art {n}'"))
    sheet = tmp_path / "s.csv"
    sheet.write_text("n\n10\n20\n30\n")
    return str(template), str(sheet)


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY", "http_proxy"])
def test_every_command_goes_through_the_proxy(
    platform: str, proxy: Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, proxy.url)
    template, sheet = _batch(tmp_path)
    seen = 0

    def through(*args: str) -> None:
        nonlocal seen
        ran = cli_run(*args)
        assert ran.code == 0, (args, ran.err)
        now = len(proxy.forwarded())
        assert now > seen, f"runhub {' '.join(args)} did not use the proxy"
        assert all(f" {platform}/" in line for line in proxy.forwarded()[seen:])
        seen = now

    through("batch", template, sheet, "-o", "json")
    through("runs", "--refresh")
    batch_id = json.loads(cli_run("batch", template, sheet, "-o", "json").out)["batch"]
    seen = len(proxy.forwarded())
    through("wait", "--batch", batch_id)
    launched = cli_run("launch", str(SPEC), "-o", "json")
    assert launched.code == 0, launched.err
    assert any(line.startswith("POST ") for line in proxy.forwarded()[seen:])
    seen = len(proxy.forwarded())
    ref = json.loads(launched.out)["ref"]
    through("wait", ref)
    through("status", ref)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_dead_proxy_fails_every_command(
    platform: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{_closed_port()}")
    template, sheet = _batch(tmp_path)
    batch = cli_run("batch", template, sheet, "-o", "json")
    assert batch.code == 4, batch.err
    assert "Traceback" not in batch.err
    # stopped at its pre-flight lookups, or each row's launch: nothing launched either way
    assert "check HTTPS_PROXY/HTTP_PROXY/ALL_PROXY" in batch.out + batch.err
    assert cli_run("runs", "-o", "json").out.count('"ref": "codeocean:') == 0
    launch = cli_run("launch", str(SPEC))
    assert launch.code == 4, launch.err
    assert "runhub: error: " in launch.err
    assert "the proxy http://127.0.0.1:" in launch.err


def test_no_proxy_sends_requests_direct(
    platform: str, proxy: Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    template, sheet = _batch(tmp_path)
    assert cli_run("batch", template, sheet).code == 0
    assert cli_run("launch", str(SPEC)).code == 0
    assert proxy.forwarded() == []


@pytest.mark.parametrize(
    "environment",
    [
        {"HTTP_PROXY": "http://127.0.0.1:3128"},
        {"HTTPS_PROXY": "http://proxy.lab:8080", "NO_PROXY": "internal.lab,10.0.0.0/8,::1"},
        {"ALL_PROXY": "http://127.0.0.1:1080", "NO_PROXY": "localhost"},
        {"http_proxy": "127.0.0.1:3128", "no_proxy": "*"},
        {},
    ],
)
def test_the_pool_mounts_what_httpx_would(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    import httpx

    from runhub.pool import proxy_mounts

    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    ours = proxy_mounts()
    theirs = httpx.AsyncClient()._mounts  # httpx's own choice for the same environment
    assert sorted(ours) == sorted(p.pattern for p in theirs)
    for pattern, transport in theirs.items():
        assert (ours[pattern.pattern] is None) == (transport is None), pattern.pattern


def test_a_socks_proxy_without_socksio_is_one_line(
    platform: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    if importlib.util.find_spec("socksio") is not None:
        pytest.skip("socksio is installed here: SOCKS proxies work")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    cli_run("launch", str(SPEC)).fails(2, "SOCKS proxy", "httpx[socks]")
    cli_run("wait", "codeocean:7f1c2d3e-aaaa-4bbb-8ccc-0123456789ab").fails(2, "SOCKS proxy")
