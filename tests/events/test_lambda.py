"""``runhub.events.lambda_handler`` with the SNS event of the seed's architecture, and
SQS-triggered batches with partial failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runhub_ica.emulator import IcaEmulator, seed
from runhub_ica.emulator.world import AnalysisRec

import runhub.events
from runhub.aio import AsyncClient
from runhub.backend import RunRef
from runhub.events.aws_lambda import RecordsFailed, handle_invocation
from runhub.ledger import Ledger
from runhub.state import RunState, RunStatus
from runhub.testing.emulator import Clock, EmulatorServer

from .conftest import API_KEY, FIXTURES, SeedChain
from .test_faults import input_ids, step2_creates

RECORDED = FIXTURES / "sns-analysis-succeeded.json"


def recorded() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDED.read_text())
    return data


def inner(event: dict[str, Any]) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(event["Records"][0]["Sns"]["Message"])
    return message


def launched_earlier(app: IcaEmulator, clock: Clock, ledger: Ledger) -> str:
    """The world the recorded event speaks of: the analysis on the emulator (done), and
    the ledger row of the launch that made it (key = the event's key tag)."""
    message = inner(recorded())
    payload = message["payload"]
    key = next(
        t.removeprefix("runhub-key:")
        for t in payload["tags"]["technicalTags"]
        if t.startswith("runhub-key:")
    )
    pipeline = app.world.pipelines[payload["pipeline"]["id"]]
    app.world.analyses[payload["id"]] = AnalysisRec(
        id=payload["id"],
        reference=payload["reference"],
        project=message["projectId"],
        user_reference=payload["userReference"],
        pipeline=pipeline,
        storage="Small",
        tags=payload["tags"],
        created_at=clock.now() - 600,
    )
    ref = RunRef("ica", f"{message['projectId']}/{payload['id']}")
    ledger.intent("ica", "spec-of-step1", key=key, name=payload["userReference"])
    ledger.attempt(key)
    ledger.launched(key, RunStatus(ref, RunState.PENDING, "REQUESTED"))
    return str(ref)


@pytest.fixture
def served(app: IcaEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """The emulator over HTTP, and the function's environment pointing at it."""
    with EmulatorServer(app) as server:
        monkeypatch.setenv("ICAV2_SERVER_URL", server.url)
        monkeypatch.setenv("ICAV2_X_API_KEY", API_KEY)
        monkeypatch.setenv("ICAV2_PROJECT_ID", seed.PROJECT_ID)
        yield server


def test_the_handler_applies_the_recorded_sns_event_from_its_environment(
    app: IcaEmulator, clock: Clock, served: EmulatorServer, tmp_path: Path
) -> None:
    home = Path(str(tmp_path / "home"))  # RUNHUB_HOME: the function's ledger lives there
    with Ledger(home / "ledger.sqlite") as ledger:
        ref = launched_earlier(app, clock, ledger)
    answer = runhub.events.lambda_handler(recorded(), None)
    assert answer == {"counts": {"applied": 1}}
    with Ledger(home / "ledger.sqlite") as ledger:
        row = ledger.by_ref(ref)
    assert row is not None
    assert (row.state, row.native) == ("SUCCEEDED", "SUCCEEDED")
    again = runhub.events.lambda_handler(recorded(), None)  # SNS delivered it twice
    assert again == {"counts": {"stale": 1}}


async def test_the_recorded_event_launches_step2_with_step1s_output(
    app: IcaEmulator, clock: Clock, client: AsyncClient, ledger: Ledger
) -> None:
    launched_earlier(app, clock, ledger)
    chain = SeedChain()
    for _ in range(2):  # a duplicate delivery changes nothing
        await handle_invocation(recorded(), client=client, listeners=[chain])
    (created,) = step2_creates(app)
    (rec,) = [a for a in app.analyses if a.user_reference == "step1-sampleA"]
    summary = next(d.id for d in rec.outputs if d.path.endswith(".summary.tsv"))
    assert input_ids(created) == [summary]


def sqs_record(ident: str, body: str) -> dict[str, Any]:
    return {
        "messageId": ident,
        "receiptHandle": f"handle-{ident}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:ica-events",
        "awsRegion": "eu-central-1",
    }


async def test_sqs_batches_report_only_the_unreadable_records(
    app: IcaEmulator, clock: Clock, client: AsyncClient, ledger: Ledger
) -> None:
    ref = launched_earlier(app, clock, ledger)
    sns = recorded()["Records"][0]["Sns"]
    event = {
        "Records": [
            sqs_record("good-1", json.dumps(sns)),  # SNS in SQS, not raw
            sqs_record("bad-1", "{truncated"),
            sqs_record("good-2", sns["Message"]),  # raw delivery
            sqs_record("bad-2", json.dumps({"eventCode": "ICA_EXEC_028"})),
        ]
    }
    chain = SeedChain()
    answer = await handle_invocation(event, client=client, listeners=[chain])
    assert answer["batchItemFailures"] == [{"itemIdentifier": "bad-1"}, {"itemIdentifier": "bad-2"}]
    # the same notification twice (one correlationId): applied once, then a duplicate
    assert answer["counts"] == {"applied": 1, "duplicate": 1, "unreadable": 2}
    assert ledger.by_ref(ref).state == "SUCCEEDED"  # type: ignore[union-attr]
    assert len(step2_creates(app)) == 1


async def test_sns_invocations_with_an_unreadable_record_fail_after_applying_the_rest(
    app: IcaEmulator, clock: Clock, client: AsyncClient, ledger: Ledger
) -> None:
    ref = launched_earlier(app, clock, ledger)
    event = recorded()
    broken = json.loads(json.dumps(event["Records"][0]))
    broken["Sns"]["MessageId"] = "broken-1"
    broken["Sns"]["Message"] = "not json at all"
    event["Records"].append(broken)
    with pytest.raises(RecordsFailed, match="broken-1"):
        await handle_invocation(event, client=client, listeners=[])
    assert ledger.by_ref(ref).state == "SUCCEEDED"  # type: ignore[union-attr]


def test_the_handler_uses_the_team_ledger_its_environment_names(
    app: IcaEmulator,
    clock: Clock,
    served: EmulatorServer,
    pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Lambda's own disk holds no ledger: RUNHUB_LEDGER names the shared one."""
    monkeypatch.setenv("RUNHUB_LEDGER", pg_url)
    with Ledger(pg_url) as ledger:
        ref = launched_earlier(app, clock, ledger)
    assert runhub.events.lambda_handler(recorded(), None) == {"counts": {"applied": 1}}
    with Ledger(pg_url) as ledger:
        row = ledger.by_ref(ref)
    assert row is not None
    assert row.state == "SUCCEEDED"
