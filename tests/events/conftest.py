"""Fixtures for events: the ICA emulator (which delivers notifications), moto's SQS
server on 127.0.0.1 (a real SQS API implementation, never a mock of our own), an
AsyncClient on the emulator with a ledger, and a stand-in for the chain runner.

``SeedChain`` is the seed document's Lambda as a listener: when step 1 (a run named
``step1-*``) has succeeded, list its outputs, take the ``*.summary.tsv`` file and
launch step 2 on it, keyed by step 1's ref so it is launched once, however often the
listener is called (the ledger and ICA's Idempotency-Key keep that promise).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
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
from runhub.state import RunState
from runhub.testing.emulator import Clock, mock_transport

URL = "http://127.0.0.1:9"  # in-process: never dialled
API_KEY = "ica-events-test-key-3f9a"
FAST = RetryPolicy(
    attempts=4, wait_initial=0.001, wait_max=0.002, wait_jitter=0.0, max_retry_after=0.01
)
FASTQC = "fastqc-0-12"
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


def step1_spec(name: str = "step1-sampleA") -> dict[str, Any]:
    return {
        "backend": "ica",
        "pipeline": FASTQC,
        "name": name,
        "mounts": [{"source": "/fastqs/", "input": "reads"}],
    }


@dataclass
class SeedChain:
    """The seed's Lambda as a listener (see the module docstring)."""

    calls: int = 0
    launched: list[str] = field(default_factory=list)
    glob: str = "*.summary.tsv"

    async def __call__(self, client: AsyncClient, refs: Sequence[str]) -> None:
        self.calls += 1
        ledger = client.ledger
        assert ledger is not None
        for ref in refs:
            row = ledger.by_ref(ref)
            if row is None or not (row.name or "").startswith("step1-"):
                continue
            if row.state != RunState.SUCCEEDED.value:
                continue
            outputs = await client.outputs(ref)
            chosen = [o for o in outputs if o.kind == "file" and fnmatch.fnmatch(o.path, self.glob)]
            spec = {
                "backend": "ica",
                "pipeline": FASTQC,
                "name": "step2-" + row.name.removeprefix("step1-"),  # type: ignore[union-attr]
                "mounts": [{"source": chosen[0].id, "input": "reads"}],
            }
            from runhub.spec import RunSpec

            key = hashlib.sha256(f"step2\0{ref}".encode()).hexdigest()[:32]
            status = await client.launch(RunSpec.from_data(spec), key=key)
            self.launched.append(str(status.ref))


def subscribe(app: IcaEmulator, channel_type: str, address: str, *codes: str, version: str = "V4") -> None:
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
