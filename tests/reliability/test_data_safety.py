"""Spec files and samplesheets are data: YAML builds no objects, placeholders reach
only row values, mount sources are never executed, and the local backend never
passes parameters through a shell. TLS verification stays on for https."""

from __future__ import annotations

import json
import shutil
import ssl
import stat
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from platforms import registry
from rows import POLICY

from runhub.batch import Samplesheet, load_template, plan
from runhub.client import AsyncClient, Client, PollSchedule
from runhub.config import check_base_url
from runhub.errors import ConfigError, SpecError, TransportError
from runhub.spec import RunSpec
from runhub.state import RunState
from runhub.testing.emulator import EmulatorServer

REPO = Path(__file__).resolve().parents[2]
PAYLOADS = [
    "pipeline: !!python/object/apply:os.system ['touch {pwned}']\n",
    "pipeline: !!python/object/new:subprocess.Popen [['touch', '{pwned}']]\n",
    "pipeline: !!python/name:os.system\n",
    "pipeline: x\nparameters: !!python/object:builtins.dict {{a: 1}}\n",
    '!!python/object/apply:builtins.exec [\'open("{pwned}", "w")\']\n',
]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("loader", ["spec", "template"])
def test_yaml_payloads_construct_nothing(payload: str, loader: str, tmp_path: Path) -> None:
    pwned = tmp_path / "pwned"
    path = tmp_path / "run.yaml"
    path.write_text(payload.format(pwned=pwned))
    load = RunSpec.from_file if loader == "spec" else load_template
    with pytest.raises(SpecError) as caught:
        load(path)
    assert "run.yaml" in str(caught.value)
    assert not pwned.exists()


def _sheet(rows: list[dict[str, str]]) -> Samplesheet:
    return Samplesheet(Path("sheet.csv"), list(rows[0]), [(i + 2, r) for i, r in enumerate(rows)])


@pytest.mark.parametrize(
    "placeholder",
    [
        "{sample.__class__}",
        "{sample.__init__.__globals__}",
        "{sample[0]}",
        "{sample!r}",
        "{sample:>40}",
        "{0}",
        "{}",
        "{__import__('os')}",
    ],
)
def test_placeholders_reach_only_row_values(placeholder: str) -> None:
    template = {"pipeline": "p", "name": f"run {placeholder}"}
    with pytest.raises(SpecError) as caught:
        plan(template, _sheet([{"sample": "A"}]), template_label="t.yaml")
    assert "names no column" in str(caught.value)


def test_row_values_are_not_expanded_again() -> None:
    template = {"pipeline": "p", "name": "run {sample}", "parameters": {"x": "{{sample}}"}}
    sheet = _sheet([{"sample": "{other} {sample.__class__}", "other": "B"}])
    item = plan(template, sheet, template_label="t.yaml").items[0]
    assert item.spec.name == "run {other} {sample.__class__}"
    assert item.spec.parameters == {"x": "{sample}"}


ARGV_RUN = """\
    #!/usr/bin/env python3
    import json, sys
    from pathlib import Path
    Path("results").mkdir(exist_ok=True)
    Path("results/argv.json").write_text(json.dumps(sys.argv[1:]))
"""
HOSTILE = ["; rm -rf x", "$(touch pwned)", "`touch pwned`", "a b", "'q'", '"dq"', "| tee z", "&&"]


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "x").mkdir()  # the target of '; rm -rf x'
    folder = tmp_path / "pipe"
    folder.mkdir()
    run = folder / "run"
    run.write_text(textwrap.dedent(ARGV_RUN))
    run.chmod(run.stat().st_mode | stat.S_IXUSR)
    return folder


def _output_path(tmp: Path) -> Path:
    return next((tmp / "home" / "runs").glob("*/results/argv.json"))


@pytest.mark.parametrize("shape", ["named", "ordered"])
def test_local_parameters_never_pass_through_a_shell(
    shape: str, pipeline: Path, tmp_path: Path
) -> None:
    if shape == "named":
        parameters: Any = {f"p{i}": v for i, v in enumerate(HOSTILE)}
        expected = [x for i, v in enumerate(HOSTILE) for x in (f"--p{i}", v)]
    else:
        parameters, expected = list(HOSTILE), list(HOSTILE)
    with Client(plugins=registry()) as client:
        status = client.launch(
            RunSpec.from_data(
                {"backend": "local", "pipeline": str(pipeline), "parameters": parameters}
            )
        )
        final = client.wait(status.ref, timeout=30, poll=PollSchedule(0.05, cap=0.2))
    assert final.state is RunState.SUCCEEDED, final.message
    assert json.loads(_output_path(tmp_path).read_text()) == expected
    assert (tmp_path / "x").is_dir()
    assert not list(tmp_path.rglob("pwned"))


def test_local_mount_sources_are_never_executed(pipeline: Path, tmp_path: Path) -> None:
    evil = tmp_path / "evil.sh"
    evil.write_text(f"#!/bin/sh\ntouch {tmp_path / 'pwned'}\n")
    evil.chmod(0o755)
    names = ["$(touch pwned)", "`touch pwned`", "; touch pwned"]
    for name in names:  # a source that reads like a command is just a missing path
        spec = {"backend": "local", "pipeline": str(pipeline), "mounts": [{"source": name}]}
        with Client(plugins=registry()) as client, pytest.raises(SpecError):
            client.launch(RunSpec.from_data(spec))
    spec = {"backend": "local", "pipeline": str(pipeline), "mounts": [{"source": str(evil)}]}
    with Client(plugins=registry()) as client:
        status = client.launch(RunSpec.from_data(spec))
        final = client.wait(status.ref, timeout=30, poll=PollSchedule(0.05, cap=0.2))
    assert final.state is RunState.SUCCEEDED
    assert not list(tmp_path.rglob("pwned"))


# -- TLS ---------------------------------------------------------------------------------


def test_no_setting_turns_verification_off() -> None:
    for name, info in registry().backends.items():
        fields = set(info.cls.settings_model.model_fields)
        suspicious = {
            f for f in fields if any(w in f for w in ("verify", "ssl", "tls", "insecure"))
        }
        assert not suspicious, (name, suspicious)
    sources = [*(REPO / "runhub").rglob("*.py"), *(REPO / "plugins").rglob("*.py")]
    for path in sources:
        text = path.read_text()
        for needle in ("verify=False", "CERT_NONE", "check_hostname = False", "_create_unverified"):
            assert needle not in text, (path, needle)


@pytest.mark.parametrize(
    ("name", "key", "url"),
    [
        ("ica", "server_url", "http://ica.example.com"),
        ("codeocean", "url", "http://codeocean.example.com"),
        ("ica", "server_url", "http://10.0.0.5:8080"),
        ("codeocean", "url", "http://192.168.1.20"),
    ],
)
def test_plain_http_is_refused_beyond_loopback(name: str, key: str, url: str) -> None:
    settings = {
        "ica": {"x_api_key": "k-12345", "project_id": "p"},
        "codeocean": {"api_token": "t-1"},
    }
    settings[name][key] = url
    ref = "ica:p/a" if name == "ica" else "codeocean:7f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"
    with (
        Client(settings=settings, plugins=registry(), policy=POLICY) as client,
        pytest.raises(ConfigError) as caught,
    ):
        client.status(ref)
    assert "https" in str(caught.value)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_plain_http_to_loopback_is_allowed_without_a_warning(
    host: str, caplog: pytest.LogCaptureFixture
) -> None:
    from runhub_codeocean.settings import api_base
    from runhub_ica.settings import base_url

    with caplog.at_level("WARNING"):
        assert base_url(f"http://{host}:8080").startswith("http://")
        assert api_base(f"http://{host}:8080").startswith("http://")
        assert check_base_url(f"http://{host}:8080", variable="X").startswith("http://")
    assert caplog.records == []


def test_core_check_warns_for_plain_http_elsewhere(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING"):
        check_base_url("http://runs.example.com", variable="EXAMPLE_URL")
    assert any("EXAMPLE_URL" in r.getMessage() for r in caplog.records)
    with pytest.raises(ConfigError):
        check_base_url("ftp://runs.example.com", variable="EXAMPLE_URL")


@pytest.fixture
def https_server(tmp_path: Path) -> Iterator[str]:
    """An HTTPS emulator with a self-signed certificate nobody trusts."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    from runhub_codeocean.emulator import CodeOceanEmulator

    server = EmulatorServer(CodeOceanEmulator(token="t-123456"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server._httpd.socket = context.wrap_socket(server._httpd.socket, server_side=True)
    with server:
        yield server.url.replace("http://", "https://")


def test_untrusted_certificate_fails_the_request(https_server: str) -> None:
    import asyncio

    settings = {"codeocean": {"url": https_server, "api_token": "t-123456"}}
    ref = "codeocean:7f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"
    with (
        Client(settings=settings, plugins=registry(), policy=POLICY) as client,
        pytest.raises(TransportError) as caught,
    ):
        client.status(ref)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)

    async def check() -> None:
        async with AsyncClient(settings=settings, plugins=registry(), policy=POLICY) as aclient:
            await aclient.status(ref)

    with pytest.raises(TransportError) as caught:
        asyncio.run(check())
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)
