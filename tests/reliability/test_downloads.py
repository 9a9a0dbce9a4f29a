"""What a platform can make ``runhub outputs --download`` do (issue 13 items 5, 7, 10;
issue 12 item 6).

The Code Ocean emulator is served on 127.0.0.1 behind a hostile layer of this
test's own that rewrites what the platform answers: download URLs pointing at this
machine's files or redirecting there, bodies longer than the listing announces,
signed URLs that expire once a newer one is issued, file names no file system
holds. The emulator itself is not changed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from hostile import Hostile, endless
from invoke import cli_run
from runhub_codeocean.emulator import DEFAULT_TOKEN, CodeOceanEmulator

from runhub.testing.emulator import Clock, EmulatorServer

SPEC = Path(__file__).resolve().parents[2] / "examples" / "codeocean" / "art-ordered.yaml"
SECRET_CONTENT = b"root:x:0:0:this must never be copied\n"


@dataclass
class Layer:
    """The emulator's answers, rewritten by ``mode``; records the requests."""

    app: CodeOceanEmulator
    mode: str = "honest"
    local_file: str = ""
    bad_name: str = ""
    endless_url: str = ""
    seen: list[httpx.Request] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path = request.url.path
        if path.endswith("/results/urls") and self.mode != "honest":
            return self._urls(request)
        if "/emulator-downloads/" in path:
            return self._download(request)
        response = self.app.handle(request)
        if path.endswith("/results") and self.mode == "names":
            return self._names(response)
        return response

    def _urls(self, request: httpx.Request) -> httpx.Response:
        real = self.app.handle(request)
        url = real.json()["download_url"]
        if self.mode == "file":
            url = Path(self.local_file).as_uri()
        elif self.mode in ("ftp", "remote-http"):
            scheme = "ftp" if self.mode == "ftp" else "http"
            url = f"{scheme}://downloads.example.com/output.txt"
        elif self.mode == "expiring":
            url = f"{url}&n={len(self.issued)}"
        elif self.mode == "endless":
            url = f"{self.endless_url}/{len(self.issued)}"
        self.issued.append(url)
        return httpx.Response(200, json={"download_url": url})

    def _download(self, request: httpx.Request) -> httpx.Response:
        if self.mode == "redirect-file":
            return httpx.Response(302, headers={"location": Path(self.local_file).as_uri()})
        if self.mode == "redirect-remote":
            return httpx.Response(302, headers={"location": "http://downloads.example.com/x"})
        if self.mode == "expiring" and str(request.url) != self.issued[-1]:
            return httpx.Response(403, text="<Error><Code>AccessDenied</Code>Request has expired")
        real = self.app.handle(request)
        if self.mode == "oversend":  # a Content-Length 1000 times the listed size
            return httpx.Response(200, content=real.content * 1000)
        return real

    def _names(self, response: httpx.Response) -> httpx.Response:
        items = response.json()["items"]
        for item in items:
            if item["type"] == "file":
                item["path"] = item["name"] = self.bad_name
                break
        return httpx.Response(200, json={"items": items})


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Name lookups for anything but this machine fail at once, and are recorded:
    even a regression that follows a remote URL sends nothing off the machine."""
    import socket

    asked: list[str] = []
    real = socket.getaddrinfo

    def guarded(host: object, *args: object, **kwargs: object) -> object:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in ("127.0.0.1", "localhost", "::1"):
            asked.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "blocked by the test: not loopback")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield asked
    assert asked == [], f"runhub tried to reach {asked}"


@pytest.fixture
def platform(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[tuple[Layer, str]]:
    """A finished Code Ocean run behind the hostile layer, and its ref."""
    layer = Layer(CodeOceanEmulator(clock=Clock(speed=5000)))
    secret = tmp_path / "passwd"
    secret.write_bytes(SECRET_CONTENT)
    layer.local_file = str(secret)
    with EmulatorServer(layer) as server:
        monkeypatch.setenv("CODEOCEAN_URL", server.url)
        monkeypatch.setenv("CODEOCEAN_API_TOKEN", DEFAULT_TOKEN)
        ran = cli_run("launch", str(SPEC), "--wait", "-o", "json")
        assert ran.code == 0, ran.err
        yield layer, json.loads(ran.out)["run"]["ref"]


def _everything_under(root: Path) -> bytes:
    return (
        b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file()) if root.exists() else b""
    )


@pytest.mark.parametrize("mode", ["file", "redirect-file", "ftp", "remote-http", "redirect-remote"])
def test_download_urls_are_followed_over_https_or_loopback_http_only(
    platform: tuple[Layer, str], tmp_path: Path, mode: str
) -> None:
    layer, ref = platform
    layer.mode = mode
    into = tmp_path / "results"
    ran = cli_run("outputs", ref, "--download", str(into))
    ran.fails(4, "refusing to download from", "https, or http to this machine, only")
    assert SECRET_CONTENT not in _everything_under(into)
    assert not [r for r in layer.seen if r.url.host != "127.0.0.1"]


@pytest.mark.parametrize(
    ("mode", "phrase"),
    [
        ("oversend", "the server announces 42000 bytes, the listing 42"),
        ("endless", "the server sent more than the 42 bytes announced"),
    ],
)
def test_a_download_stops_at_its_announced_size(
    platform: tuple[Layer, str], tmp_path: Path, mode: str, phrase: str
) -> None:
    layer, ref = platform
    layer.mode = mode
    into = tmp_path / "results"
    with Hostile(endless) as files:  # chunked, without end, from this machine
        layer.endless_url = files.url
        ran = cli_run("outputs", ref, "--download", str(into))
    ran.fails(4, phrase)
    written = sum(p.stat().st_size for p in into.rglob("*") if p.is_file())
    assert written <= 42  # output.txt, the first file, is 42 bytes: never more


def test_signed_urls_are_fetched_just_before_each_file(
    platform: tuple[Layer, str], tmp_path: Path
) -> None:
    layer, ref = platform
    layer.mode = "expiring"  # a URL is valid until the next one is issued
    into = tmp_path / "results"
    ran = cli_run("outputs", ref, "--download", str(into), "-o", "json")
    assert ran.code == 0, ran.err
    got = json.loads(ran.out)
    assert len(got) == 4
    assert {g["action"] for g in got} == {"downloaded"}
    assert len(layer.issued) == 4
    again = cli_run("outputs", ref, "--download", str(into), "-o", "json")
    assert {g["action"] for g in json.loads(again.out)} == {"skipped"}
    assert len(layer.issued) == 4  # complete files need no URL


@pytest.mark.parametrize(
    ("name", "phrase"),
    [("out\x00put.txt", "NUL or control character"), ("n" * 300 + ".txt", "304 characters")],
    ids=["nul", "300-chars"],
)
def test_an_output_name_no_file_can_have_is_one_line(
    platform: tuple[Layer, str], tmp_path: Path, name: str, phrase: str
) -> None:
    layer, ref = platform
    layer.mode = "names"
    layer.bad_name = name
    ran = cli_run("outputs", ref, "--download", str(tmp_path / "results"))
    ran.fails(2, "refusing output", phrase)
