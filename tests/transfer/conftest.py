"""Fixtures for data transfers: moto's S3 server and the ICA emulator on 127.0.0.1.

S3 is moto in server mode (a real S3 API implementation, started here), never a
mock of our own. Clients find it the standard way, through ``AWS_ENDPOINT_URL_S3``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto", reason="moto[server] (a test dependency) is not installed")

from moto.server import ThreadedMotoServer
from runhub_ica.auth import TOKENS
from runhub_ica.backend import IcaBackend
from runhub_ica.emulator import IcaEmulator, seed
from runhub_ica.emulator.uploads import S3Bucket

from runhub.client import Client
from runhub.plugins import BackendInfo, Registry
from runhub.policy import RetryPolicy
from runhub.testing.emulator import Clock, EmulatorServer, mock_transport

API_KEY = "ica-transfer-test-key-7c1d"
BUCKET = "stratus-gds-emulated"
FAST = RetryPolicy(
    attempts=4, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0, max_retry_after=0.01
)
DRAGEN = "dragen-germline-4-3-6"
REF_TAR = "/reference/hg38-alt_masked.cnv.graph.hla.rna-9-r3.0-1.tar"
ENV_VARS = (
    "ICAV2_SERVER_URL",
    "ICAV2_X_API_KEY",
    "ICAV2_ACCESS_TOKEN",
    "ICAV2_PROJECT_ID",
    "AWS_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ENDPOINT_URL",
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings leak in from the environment, the profile or ~/.aws."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("RUNHUB_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)
    TOKENS.clear()  # a JWT of another test's emulator is not this one's


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (one per test session)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> S3Bucket:
    """A fresh bucket, and AWS_ENDPOINT_URL_S3 pointing boto3 at moto."""
    import boto3

    name = f"{BUCKET}-{os.urandom(4).hex()}"
    admin = S3Bucket(moto_url, name)
    boto3.client(
        "s3",
        endpoint_url=moto_url,
        aws_access_key_id=admin.access_key,
        aws_secret_access_key=admin.secret_key,
        region_name=admin.region,
    ).create_bucket(Bucket=name)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_url)
    return admin


def plugins() -> Registry:
    return Registry(backends={"ica": BackendInfo(IcaBackend, "runhub_ica", None, None)})


def ica_settings(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "server_url": url,
        "x_api_key": API_KEY,
        "project_id": seed.PROJECT_ID,
        **extra,
    }


@pytest.fixture
def app() -> IcaEmulator:
    emulator = IcaEmulator(Clock(speed=200.0))
    emulator.uploads.settle = 2.0  # emulated seconds: ~10 ms, but polled at least once
    return emulator


@pytest.fixture
def client(app: IcaEmulator) -> Iterator[Client]:
    """A Client on the in-process emulator (its own upload URLs; no S3)."""
    with Client(
        settings={"ica": ica_settings("http://127.0.0.1:9")},
        transport=mock_transport(app),
        policy=FAST,
        plugins=plugins(),
    ) as c:
        yield c


@dataclass
class Served:
    """The emulator behind a real HTTP server, with S3 at moto."""

    app: IcaEmulator
    server: EmulatorServer
    bucket: S3Bucket

    @property
    def env(self) -> dict[str, str]:
        return {
            "ICAV2_SERVER_URL": self.server.url,
            "ICAV2_X_API_KEY": API_KEY,
            "ICAV2_PROJECT_ID": seed.PROJECT_ID,
            "AWS_ENDPOINT_URL_S3": self.bucket.endpoint_url,
        }

    def client(self, **settings: Any) -> Client:
        return Client(
            settings={"ica": ica_settings(self.server.url, **settings)},
            policy=FAST,
            plugins=plugins(),
        )


@pytest.fixture
def served(app: IcaEmulator, bucket: S3Bucket, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    app.uploads.use_s3(bucket)
    with EmulatorServer(app) as server:
        done = Served(app, server, bucket)
        for key, value in done.env.items():
            monkeypatch.setenv(key, value)
        yield done


@pytest.fixture
def write() -> Callable[..., Path]:
    """``write(name, size=..., seed=...)``: a file of pseudo-random bytes."""

    def make(name: str, size: int = 4096, seed: int = 0) -> Path:
        path = Path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        block = json.dumps([seed, name]).encode() * 64
        data = (block * (size // len(block) + 1))[:size]
        path.write_bytes(data)
        return path

    return make


def spec_data(*sources: str, name: str = "s1") -> dict[str, Any]:
    """An ICA DRAGEN spec whose fastqs input mounts ``sources``."""
    return {
        "backend": "ica",
        "pipeline": DRAGEN,
        "name": name,
        "mounts": [
            *({"source": s, "input": "fastqs"} for s in sources),
            {"source": REF_TAR, "input": "ref_tar"},
        ],
        "parameters": {"sample_ids": [name]},
    }


@dataclass
class Result:
    """What one CLI invocation did."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    def fails(self, code: int, *phrases: str) -> str:
        """That exit code, one ``runhub: error:`` line holding every phrase, no traceback."""
        assert self.code == code, (self.code, self.out, self.err)
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("runhub: error: ")
        assert "Traceback" not in self.err + self.out
        for phrase in phrases:
            assert phrase in lines[0], lines[0]
        return lines[0]


@pytest.fixture
def cli() -> Callable[..., Result]:
    """``cli(*args)``: runhub in this process, through the script's entry point."""
    from click.testing import CliRunner

    from runhub.cli import run

    def invoke(*args: str) -> Result:
        runner = CliRunner()
        with runner.isolation() as (out, err, _mixed):
            code = run(list(args))
        return Result(code, out.getvalue().decode(), err.getvalue().decode())

    return invoke
