"""Fixtures for events: the ICA emulator (which delivers notifications), moto's SQS
server on 127.0.0.1 (a real SQS API implementation, never a mock of our own), an
AsyncClient on the emulator with a ledger, and a stand-in for the chain runner.

``SeedChain`` (seedchain.py) stands in for the chain runner.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto", reason="moto[server] (a test dependency) is not installed")

from moto.server import ThreadedMotoServer
from runhub_ica.auth import TOKENS
from runhub_ica.backend import IcaBackend
from runhub_ica.emulator import IcaEmulator, seed

from runhub.aio import AsyncClient
from runhub.ledger import Ledger
from runhub.plugins import BackendInfo, Registry
from runhub.policy import RetryPolicy
from runhub.testing.emulator import Clock, mock_transport

from .seedchain import FASTQC, SeedChain, step1_spec

__all__ = ["FASTQC", "SeedChain", "step1_spec"]

URL = "http://127.0.0.1:9"  # in-process: never dialled
API_KEY = "ica-events-test-key-3f9a"
FAST = RetryPolicy(
    attempts=4, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0, max_retry_after=0.01
)
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No settings from the environment, the profile or ~/.aws; each test its own ICA."""
    TOKENS.clear()
    for name in ("ICAV2_SERVER_URL", "ICAV2_X_API_KEY", "ICAV2_ACCESS_TOKEN", "ICAV2_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RUNHUB_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    """moto's server on 127.0.0.1 (SQS, SNS), one per test session."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class Queue:
    """A fresh SQS queue on moto (with a dead-letter queue after 3 receives)."""

    url: str
    dead_letter: str
    sqs: Any

    def send(self, body: str) -> str:
        return str(self.sqs.send_message(QueueUrl=self.url, MessageBody=body)["MessageId"])

    def count(self, url: str | None = None) -> int:
        attrs = self.sqs.get_queue_attributes(
            QueueUrl=url or self.url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )


@pytest.fixture
def queue(moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Queue:
    import json

    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SNS", moto_url)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=moto_url)
    name = f"ica-events-{os.urandom(4).hex()}"
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"})
    url = sqs.create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": "1", "RedrivePolicy": redrive}
    )["QueueUrl"]
    return Queue(url, dlq, sqs)


def plugins() -> Registry:
    return Registry(backends={"ica": BackendInfo(IcaBackend, "runhub_ica", None, None)})


def ica_settings(url: str = URL) -> dict[str, Any]:
    return {"server_url": url, "x_api_key": API_KEY, "project_id": seed.PROJECT_ID}


@pytest.fixture
def clock() -> Clock:
    return Clock(speed=1.0)


@pytest.fixture
def app(clock: Clock, moto_url: str) -> IcaEmulator:
    emulator = IcaEmulator(clock)
    emulator.notifier.aws = {"endpoint_url": moto_url}
    return emulator


def make_client(app: IcaEmulator, ledger: Ledger) -> AsyncClient:
    return AsyncClient(
        settings={"ica": ica_settings()},
        transport=mock_transport(app),
        policy=FAST,
        plugins=plugins(),
        ledger=ledger,
    )


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "ledger.sqlite") as opened:
        yield opened


@pytest.fixture
async def client(app: IcaEmulator, ledger: Ledger) -> AsyncIterator[AsyncClient]:
    async with make_client(app, ledger) as opened:
        yield opened


def subscribe(
    app: IcaEmulator, channel_type: str, address: str, *codes: str, version: str = "V4"
) -> None:
    """Subscribe the seeded project to ``codes`` through the spec's own endpoints."""
    import httpx

    transport = mock_transport(app)
    headers = {
        "X-API-Key": API_KEY,
        "Accept": "application/vnd.illumina.v3+json",
        "Content-Type": "application/vnd.illumina.v3+json",
    }
    with httpx.Client(transport=transport, base_url=URL + "/ica/rest", headers=headers) as http:
        made = http.post(
            "/api/notificationChannels",
            json={"enabled": True, "type": channel_type, "address": address},
        )
        assert made.status_code == 201, made.text
        for code in codes or ("ICA_EXEC_028",):
            done = http.post(
                f"/api/projects/{seed.PROJECT_ID}/notificationSubscriptions",
                json={
                    "eventCode": code,
                    "enabled": True,
                    "payloadVersion": version,
                    "notificationChannelId": made.json()["id"],
                },
            )
            assert done.status_code == 200, done.text
