"""The ICA emulator's notification subscriptions and what it delivers (moto SQS, HTTP)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from runhub_ica.emulator import IcaEmulator, schema, seed

from runhub.aio import AsyncClient
from runhub.spec import RunSpec
from runhub.testing.emulator import Clock, mock_transport

from .conftest import API_KEY, URL, Queue, step1_spec, subscribe

V3 = "application/vnd.illumina.v3+json"


def drain(queue: Queue) -> list[dict[str, Any]]:
    bodies = []
    while True:
        got = queue.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)
        messages = got.get("Messages") or []
        if not messages:
            return bodies
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            queue.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])


async def launch_step1(client: AsyncClient, name: str = "step1-sampleA") -> str:
    status = await client.launch(RunSpec.from_data(step1_spec(name)))
    return status.ref.id.rsplit("/", 1)[1]


async def test_a_run_sends_each_status_change_with_realistic_fields(
    app: IcaEmulator, clock: Clock, client: AsyncClient, queue: Queue
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_028", "ICA_EXEC_002")
    analysis = await launch_step1(client)
    clock.advance(60)
    assert app.notifier.pump() == 8  # seven statuses, plus the success event
    bodies = drain(queue)
    changes = [b for b in bodies if b["eventCode"] == "ICA_EXEC_028"]
    assert [b["eventParameters"]["analysisStatus"] for b in changes] == [
        "REQUESTED",
        "QUEUED",
        "INITIALIZING",
        "PREPARING_INPUTS",
        "IN_PROGRESS",
        "GENERATING_OUTPUTS",
        "SUCCEEDED",
    ]
    assert [b["eventParameters"].get("analysisPreviousStatus") for b in changes][1:3] == [
        "REQUESTED",
        "QUEUED",
    ]
    (success,) = [b for b in bodies if b["eventCode"] == "ICA_EXEC_002"]
    assert set(success) == {
        "correlationId",
        "timestamp",
        "eventCode",
        "eventParameters",
        "description",
        "projectId",
        "payloadVersion",
        "payload",
    }
    assert success["projectId"] == seed.PROJECT_ID
    assert success["payloadVersion"] == "V4"
    payload = success["payload"]
    assert payload["id"] == analysis
    assert payload["status"] == "SUCCEEDED"
    assert payload["userReference"] == "step1-sampleA"
    assert any(t.startswith("runhub-key:") for t in payload["tags"]["technicalTags"])
    assert schema.response_problems("analysis", payload) == {}  # an AnalysisV4, per libica
    assert len({b["correlationId"] for b in bodies}) == len(bodies)
    assert app.notifier.pump() == 0  # nothing new: nothing sent again


async def test_payload_v3_has_flat_owner_and_the_v3_schema(
    app: IcaEmulator, clock: Clock, client: AsyncClient, queue: Queue
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_002", version="V3")
    await launch_step1(client)
    clock.advance(60)
    app.notifier.pump()
    (body,) = drain(queue)
    assert body["payloadVersion"] == "V3"
    assert "ownerId" in body["payload"]
    assert "owner" not in body["payload"]
    assert schema.response_problems("analysis-v3", body["payload"]) == {}


async def test_failed_and_aborted_runs_send_their_own_codes(
    app: IcaEmulator, clock: Clock, client: AsyncClient, queue: Queue
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_001", "ICA_EXEC_027", "ICA_EXEC_002")
    failing = step1_spec("step1-fails")
    failing["parameters"] = {"mode": seed.FAIL_VALUE}
    spec = RunSpec.from_data(failing)
    failed = await client.launch(spec)
    slow = step1_spec("step1-slow")
    slow["parameters"] = {"mode": seed.SLOW_VALUE}
    aborted = await client.launch(RunSpec.from_data(slow))
    clock.advance(10)
    await client.cancel(aborted.ref)
    clock.advance(10)
    app.notifier.pump()
    codes = {(b["payload"]["userReference"], b["eventCode"]) for b in drain(queue)}
    assert codes == {("step1-fails", "ICA_EXEC_001"), ("step1-slow", "ICA_EXEC_027")}
    assert failed.ref  # launched


async def test_delivery_faults_drop_duplicate_and_delay(
    app: IcaEmulator, clock: Clock, client: AsyncClient, queue: Queue
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_002")
    for n in range(3):
        await launch_step1(client, f"step1-s{n}")
    app.notifier.faults.push("drop", "duplicate", "delay")
    app.notifier.faults.delay_seconds = 100
    clock.advance(60)
    app.notifier.pump()
    assert len(drain(queue)) == 2  # one dropped, one twice, one held
    clock.advance(100)
    app.notifier.pump()
    assert len(drain(queue)) == 1  # the delayed one, late
    assert app.notifier.counts["dropped"] == 1
    assert app.notifier.counts["duplicated"] == 1
    assert app.notifier.counts["delayed"] == 1


def test_subscription_bodies_are_checked_against_the_official_schema(app: IcaEmulator) -> None:
    headers = {"X-API-Key": API_KEY, "Accept": V3, "Content-Type": V3}
    with httpx.Client(
        transport=mock_transport(app), base_url=URL + "/ica/rest", headers=headers
    ) as http:
        bad = http.post("/api/notificationChannels", json={"type": "SQS", "address": "x"})
        assert bad.status_code == 400
        assert "enabled" in bad.text
        wrong_type = http.post(
            "/api/notificationChannels", json={"enabled": True, "type": "PIGEON", "address": "x"}
        )
        assert wrong_type.status_code == 400
        missing = http.post(
            f"/api/projects/{seed.PROJECT_ID}/notificationSubscriptions",
            json={
                "eventCode": "ICA_EXEC_028",
                "enabled": True,
                "notificationChannelId": "00000000-0000-4000-8000-000000000000",
            },
        )
        assert missing.status_code == 404
        subscribe(app, "HTTP", "http://127.0.0.1:9/hook")
        listed = http.get(f"/api/projects/{seed.PROJECT_ID}/notificationSubscriptions")
        (sub,) = listed.json()["items"]
        assert sub["eventCode"] == "ICA_EXEC_028"
        assert sub["notificationChannel"]["type"] == "HTTP"
        gone = http.delete(f"/api/projects/{seed.PROJECT_ID}/notificationSubscriptions/{sub['id']}")
        assert gone.status_code == 204
        assert http.get(f"/api/projects/{seed.PROJECT_ID}/notificationSubscriptions").json() == {
            "items": []
        }


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers["Content-Length"])
            got.append(json.loads(self.rfile.read(size)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()
    server.server_close()


async def test_http_channels_get_the_message_posted(
    app: IcaEmulator,
    clock: Clock,
    client: AsyncClient,
    webhook: tuple[str, list[dict[str, Any]]],
) -> None:
    url, got = webhook
    subscribe(app, "HTTP", url, "ICA_EXEC_002")
    await launch_step1(client)
    clock.advance(60)
    app.notifier.pump()
    assert [b["eventCode"] for b in got] == ["ICA_EXEC_002"]
