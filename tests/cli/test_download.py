"""Downloads: resume with HTTP Range, start over when the server ignores Range,
skip complete files, never send platform credentials, refuse escaping paths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from runhub_codeocean.emulator import DEFAULT_TOKEN, CodeOceanEmulator

from runhub.backend import Output
from runhub.cli.helpers.download import fetch, target
from runhub.errors import SpecError
from runhub.testing.emulator import Clock, EmulatorServer

BODY = bytes(range(256)) * 40  # 10 KiB


class Files:
    """A file server that honours (or ignores) Range and records what it was asked."""

    def __init__(self, ranges: bool = True) -> None:
        self.ranges = ranges
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        wanted = request.headers.get("range", "")
        match = re.fullmatch(r"bytes=(\d+)-", wanted)
        if self.ranges and match:
            start = int(match[1])
            end = len(BODY) - 1
            headers = {"content-range": f"bytes {start}-{end}/{len(BODY)}"}
            return httpx.Response(206, content=BODY[start:], headers=headers)
        return httpx.Response(200, content=BODY)


@pytest.mark.parametrize("ranges", [True, False], ids=["range", "no-range"])
def test_a_partial_file_is_resumed_or_restarted(tmp_path: Path, ranges: bool) -> None:
    files = Files(ranges)
    dest = tmp_path / "out" / "big.bin"
    dest.parent.mkdir()
    (dest.parent / "big.bin.part").write_bytes(BODY[:3000])  # an interrupted download
    with EmulatorServer(files) as server, httpx.Client() as http:
        url = f"{server.url}/big.bin?X-Signature=s3cr3t"
        done = fetch(Output("big.bin", size=len(BODY), url=url), dest, http=http)
        assert done.action == ("resumed" if ranges else "downloaded")
        assert dest.read_bytes() == BODY
        assert not (dest.parent / "big.bin.part").exists()
        assert files.requests[0].headers["range"] == "bytes=3000-"
        again = fetch(Output("big.bin", size=len(BODY), url=url), dest, http=http)
        assert again.action == "skipped"
        assert len(files.requests) == 1


def test_escaping_output_paths_are_refused(tmp_path: Path) -> None:
    for bad in ("../x", "/etc/passwd", "a/../../b"):
        with pytest.raises(SpecError):
            target(tmp_path, bad)


def test_cli_downloads_code_ocean_results_without_credentials(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = CodeOceanEmulator(clock=Clock(speed=5000))
    seen: list[httpx.Request] = []
    handle = app.handle

    def spy(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handle(request)

    app.handle = spy  # type: ignore[method-assign]
    spec = Path(__file__).resolve().parents[2] / "examples" / "codeocean" / "art-ordered.yaml"
    with EmulatorServer(app) as server:
        monkeypatch.setenv("CODEOCEAN_URL", server.url)
        monkeypatch.setenv("CODEOCEAN_API_TOKEN", DEFAULT_TOKEN)
        ran = cli("launch", str(spec), "--wait", "-o", "json")
        assert ran.code == 0, ran.err
        ref = ran.json()["run"]["ref"]
        into = tmp_path / "results"
        got = cli("outputs", ref, "--download", str(into), "-o", "json")
        assert got.code == 0, got.err
        listed = got.json()
        assert listed
        assert {g["action"] for g in listed} == {"downloaded"}
        for item in listed:
            assert Path(item["path"]).stat().st_size == item["size"]
        downloads = [r for r in seen if "/emulator-downloads/" in r.url.path]
        assert downloads
        for request in downloads:
            assert DEFAULT_TOKEN not in str(request.headers)
        # one file cut short: only it is fetched again
        first = Path(listed[0]["path"])
        first.unlink()
        first.with_name(first.name + ".part").write_bytes(b"x")
        before = len(downloads)
        logged = cli("-v", "outputs", ref, "--download", str(into), "-o", "json")
        assert "[download]" in logged.err
        assert "Signature" not in logged.err
        assert DEFAULT_TOKEN not in logged.err
        again = logged.json()
        assert sorted(g["action"] for g in again).count("downloaded") == 1
        assert first.stat().st_size == listed[0]["size"]
        assert len([r for r in seen if "/emulator-downloads/" in r.url.path]) == before + 1
