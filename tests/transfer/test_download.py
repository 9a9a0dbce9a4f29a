"""Downloads: resumed, bounded, checked against the strongest checksum known."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from runhub_ica.emulator import IcaEmulator, seed

from runhub.client import Client
from runhub.errors import PlatformError
from runhub.spec import RunSpec
from runhub.transfer.fetch import Wanted, check_url, fetch

from .conftest import spec_data


def _outputs(client: Client, app: IcaEmulator) -> str:
    Path("r.fq").write_bytes(b"x" * 100)
    status = client.launch(RunSpec.from_data(spec_data("./r.fq")))
    app.clock.advance(100)
    client.wait(status.ref, timeout=5)
    return app.analyses[-1].outputs[0].path


def test_outputs_download_checked_by_md5(client: Client, app: IcaEmulator, tmp_path: Path) -> None:
    folder = _outputs(client, app)
    done = client.download(f"ica:{folder}", tmp_path / "out")
    assert sorted(d.verified for d in done) == ["md5", "md5"]
    assert (tmp_path / "out" / "results").is_dir()
    again = client.download(f"ica:{folder}", tmp_path / "out")
    assert {d.action for d in again} == {"skipped"}


def test_a_partial_file_is_resumed_with_a_range_request(
    client: Client, app: IcaEmulator, tmp_path: Path
) -> None:
    folder = _outputs(client, app)
    first = client.download(f"ica:{folder}", tmp_path / "out")
    report = next(d.path for d in first if d.path.name.endswith(".report.html"))
    whole = report.read_bytes()
    report.unlink()
    report.with_name(report.name + ".part").write_bytes(whole[:1000])
    again = client.download(f"ica:{folder}", tmp_path / "out")
    assert next(d.action for d in again if d.path == report) == "resumed"
    assert report.read_bytes() == whole


def test_bytes_that_do_not_match_are_refused_and_removed(
    client: Client, app: IcaEmulator, tmp_path: Path
) -> None:
    folder = _outputs(client, app)
    target = next(r for r in app.analyses[-1].outputs if r.path.endswith(".report.html"))
    target.etag = hashlib.md5(b"something else", usedforsecurity=False).hexdigest()
    with pytest.raises(PlatformError, match="do not match its checksum"):
        client.download(f"ica:{target.path}", tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
    assert folder


def test_a_body_longer_than_announced_is_cut_off(tmp_path: Path) -> None:
    import httpx

    def chunks() -> Iterator[bytes]:
        yield from (b"y" * 1000 for _ in range(5))  # streamed: no Content-Length to check

    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=chunks()))
    with httpx.Client(transport=transport) as http, pytest.raises(PlatformError, match="more than"):
        fetch(Wanted("https://store.example/x", tmp_path / "x", "x", size=100), http=http)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("url", ["http://example.org/x", "ftp://example.org/x"])
def test_only_https_is_fetched_except_on_loopback(url: str) -> None:
    with pytest.raises(PlatformError, match="downloads follow https"):
        check_url(url)
    check_url("http://127.0.0.1:9/x")
    check_url("https://example.org/x")


def test_an_uploaded_file_comes_back_verified_by_sha256(client: Client, tmp_path: Path) -> None:
    Path("data.bin").write_bytes(bytes(range(256)) * 40)
    client.upload(["data.bin"], "ica:/incoming/")
    (got,) = client.download("ica:/incoming/data.bin", tmp_path / "back")
    assert got.verified == "sha256"
    assert got.path.read_bytes() == Path("data.bin").read_bytes()
    assert seed.PROJECT_ID
