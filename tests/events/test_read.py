"""Reading ICA notifications in every envelope, both payload versions, every code."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from runhub_ica.emulator import seed

from runhub.events import Ignored, StatusEvent, Unreadable
from runhub.events.read import read
from runhub.state import RunState

from .conftest import plugins

ANALYSIS = "3e0b8c2d-5f1a-4b6e-9c7d-1a2b3c4d5e6f"
KEY = "0123456789abcdef0123456789abcdef"


def message(
    code: str = "ICA_EXEC_028", status: str = "SUCCEEDED", **changes: Any
) -> dict[str, Any]:
    """A V4 ICA notification (fields as reference/ica-events.md lists them)."""
    body: dict[str, Any] = {
        "correlationId": "6f1c2d3e-0000-4000-8000-00000000c0de",
        "timestamp": "2026-12-02T04:40:00.123Z",
        "eventCode": code,
        "eventParameters": {
            "pipelineExecution": ANALYSIS,
            "analysisPreviousStatus": "GENERATING_OUTPUTS",
            "analysisStatus": status,
        },
        "description": "Analysis status changed",
        "projectId": seed.PROJECT_ID,
        "payloadVersion": "V4",
        "payload": {
            "id": ANALYSIS,
            "timeCreated": "2026-12-02T04:30:00Z",
            "owner": {"id": seed.OWNER_ID},
            "tenant": {"id": seed.TENANT_ID, "name": seed.TENANT_NAME},
            "reference": "step1-sampleA-fastqc-3e0b8c2d",
            "userReference": "step1-sampleA",
            "pipeline": {"id": "c5e1a2b3-4d5e-4f6a-8b7c-9d0e1f2a3b02", "code": "fastqc-0-12"},
            "status": status,
            "tags": {
                "technicalTags": ["runhub", f"runhub-key:{KEY}", "runhub-batch:b-7"],
                "userTags": [],
                "referenceTags": [],
            },
        },
    }
    body.update(changes)
    return body


def v3(body: dict[str, Any]) -> dict[str, Any]:
    """The same message with payload V3: flat ownerId/tenantId, V3 status names."""
    out = copy.deepcopy(body)
    payload = out["payload"]
    payload.pop("owner")
    tenant = payload.pop("tenant")
    payload.update(ownerId=seed.OWNER_ID, tenantId=tenant["id"], tenantName=tenant["name"])
    out["payloadVersion"] = "V3"
    return out


def parse(data: Any) -> StatusEvent | Ignored:
    return read(data, plugins())


def sns(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": "5a7e8f90-1111-4222-8333-444455556666",
        "TopicArn": "arn:aws:sns:eu-central-1:123456789012:ica-events",
        "Message": json.dumps(body),
        "Timestamp": "2026-12-02T04:40:01.000Z",
    }


ENVELOPES = {
    "bare": lambda b: b,
    "bare text": json.dumps,
    "sns": sns,
    "lambda sns record": lambda b: {"EventSource": "aws:sns", "Sns": sns(b)},
    "sqs body text": json.dumps,
    "sqs body with sns inside": lambda b: json.dumps(sns(b)),
    "lambda sqs record": lambda b: {
        "eventSource": "aws:sqs",
        "messageId": "m-1",
        "body": json.dumps(b),
    },
    "lambda sqs record, sns inside": lambda b: {
        "eventSource": "aws:sqs",
        "messageId": "m-1",
        "body": json.dumps(sns(b)),
    },
    "eventbridge detail": lambda b: {"detail-type": "ICA Event", "source": "x", "detail": b},
    "eventbridge pipe (OrcaBus)": lambda b: {
        "detail-type": "Event from aws:sqs",
        "source": "orcabus.icav2eventpipe",
        "detail": {"ica-event": b},
    },
}


@pytest.mark.parametrize("envelope", sorted(ENVELOPES))
@pytest.mark.parametrize("version", ["V4", "V3"])
def test_every_envelope_and_payload_version_reads_the_same(envelope: str, version: str) -> None:
    body = message() if version == "V4" else v3(message())
    found = parse(ENVELOPES[envelope](body))
    assert isinstance(found, StatusEvent)
    assert found.ref == f"ica:{seed.PROJECT_ID}/{ANALYSIS}"
    assert found.state is RunState.SUCCEEDED
    assert found.native == "SUCCEEDED"
    assert found.key == KEY
    assert found.status.ref.batch == "b-7"
    assert found.event_id == "6f1c2d3e-0000-4000-8000-00000000c0de"
    assert found.previous == "GENERATING_OUTPUTS"
    assert found.status.name == "step1-sampleA"
    assert found.at is not None
    assert found.at.year == 2026


@pytest.mark.parametrize(
    ("code", "native", "state"),
    [
        ("ICA_EXEC_002", "SUCCEEDED", RunState.SUCCEEDED),
        ("ICA_EXEC_001", "FAILED", RunState.FAILED),
        ("ICA_EXEC_027", "ABORTED", RunState.CANCELLED),
    ],
)
def test_terminal_codes_imply_their_status_when_the_message_names_none(
    code: str, native: str, state: RunState
) -> None:
    body = message(code)
    body["eventParameters"] = {}
    del body["payload"]["status"]
    found = parse(body)
    assert isinstance(found, StatusEvent)
    assert (found.native, found.state, found.code) == (native, state, code)


def test_status_changes_map_through_the_ica_state_table() -> None:
    found = parse(message(status="GENERATING_OUTPUTS"))
    assert isinstance(found, StatusEvent)
    assert found.state is RunState.FINALIZING
    unknown = parse(message(status="QUANTUM_TUNNELLING"))
    assert isinstance(unknown, StatusEvent)
    assert unknown.state is RunState.UNKNOWN


def test_v3_status_names_read_as_their_v4_names() -> None:
    body = v3(message(status="INPROGRESS"))
    body["eventParameters"].pop("analysisStatus")
    found = parse(body)
    assert isinstance(found, StatusEvent)
    assert (found.native, found.state) == ("IN_PROGRESS", RunState.RUNNING)


def test_other_ica_events_are_ignored_not_unreadable() -> None:
    found = parse({"eventCode": "ICA_JOB_001", "correlationId": "c-1", "payload": {}})
    assert isinstance(found, Ignored)
    assert "ICA_JOB_001" in found.reason


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ({"hello": "world"}, "no installed backend reads this message"),
        (message(payload="oops"), "'payload' is missing"),
        (message(projectId="not-a-project"), "'projectId'"),
        ({**message(), "payload": {**message()["payload"], "id": 7}}, "'payload.id'"),
        (sns({"eventCode": "ICA_EXEC_028"}), "'payload' is missing"),
    ],
    ids=["not-json", "not-object", "foreign", "payload", "project", "analysis", "in-sns"],
)
def test_malformed_messages_are_unreadable_with_a_reason(data: Any, words: str) -> None:
    with pytest.raises(Unreadable, match=words):
        parse(data)


def test_envelopes_nested_too_deep_are_unreadable() -> None:
    body: Any = message()
    for _ in range(8):
        body = sns(body)
    with pytest.raises(Unreadable, match="nested more than"):
        parse(body)
