"""``runhub events ingest`` and ``runhub events consume --sqs`` as a user runs them."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from runhub_ica.emulator import IcaEmulator

from runhub.cli import run
from runhub.ledger import Ledger
from runhub.testing.emulator import Clock, EmulatorServer

from .conftest import Queue, subscribe
from .test_lambda import RECORDED, inner, launched_earlier, recorded, served

__all__ = ["served"]  # the fixture, used by name below


@dataclass
class Result:
    code: int
    out: str
    err: str

    def fails(self, code: int, *phrases: str) -> str:
        assert self.code == code, (self.code, self.out, self.err)
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert lines[0].startswith("runhub: error: ")
        assert "Traceback" not in self.err + self.out
        for phrase in phrases:
            assert phrase in lines[0]
        return lines[0]


def invoke(*args: str, stdin: str | None = None) -> Result:
    runner = CliRunner()
    with runner.isolation(input=stdin) as (out, err, _mixed):
        code = run(list(args))
    return Result(code, out.getvalue().decode(), err.getvalue().decode())


def home_ledger(tmp_path: Path) -> Ledger:
    return Ledger(tmp_path / "home" / "ledger.sqlite")


def test_ingest_a_file_updates_the_ledger(
    app: IcaEmulator, clock: Clock, served: EmulatorServer, tmp_path: Path
) -> None:
    with home_ledger(tmp_path) as ledger:
        ref = launched_earlier(app, clock, ledger)
    done = invoke("events", "ingest", str(RECORDED))
    assert done.code == 0, done.err
    assert "1 message(s): 1 applied" in done.err
    with home_ledger(tmp_path) as ledger:
        assert ledger.by_ref(ref).state == "SUCCEEDED"  # type: ignore[union-attr]


def test_ingest_stdin_names_each_unreadable_line_and_applies_the_rest(
    app: IcaEmulator, clock: Clock, served: EmulatorServer, tmp_path: Path
) -> None:
    with home_ledger(tmp_path) as ledger:
        ref = launched_earlier(app, clock, ledger)
    lines = [json.dumps(inner(recorded())), "{broken", json.dumps({"nothing": "here"})]
    done = invoke("events", "ingest", "-", stdin="\n".join(lines) + "\n")
    assert done.code == 2
    assert "stdin:2: cannot be read: not JSON" in done.err
    assert "stdin:3: cannot be read: no installed backend reads this message" in done.err
    assert done.err.strip().splitlines()[-1].startswith("runhub: error: -: some messages")
    assert "Traceback" not in done.err
    with home_ledger(tmp_path) as ledger:
        assert ledger.by_ref(ref).state == "SUCCEEDED"  # type: ignore[union-attr]


def test_ingest_a_missing_file_is_one_line() -> None:
    invoke("events", "ingest", "nowhere.json").fails(2, "nowhere.json: cannot be read")


def test_consume_drains_the_queue_and_keeps_what_it_cannot_read(
    app: IcaEmulator, clock: Clock, served: EmulatorServer, queue: Queue, tmp_path: Path
) -> None:
    subscribe(app, "SQS", queue.url, "ICA_EXEC_028")
    with home_ledger(tmp_path) as ledger:
        ref = launched_earlier(app, clock, ledger)
    app.notifier.pump()
    bad = queue.send("definitely not a notification")
    done = invoke("events", "consume", "--sqs", queue.url, "--drain", "--wait-time", "0")
    assert done.code == 0, done.err
    assert f"event message {bad} cannot be read: not JSON" in done.err
    assert "deleted 7, kept 1" in done.err
    assert "Traceback" not in done.err
    assert queue.count() == 1  # the unreadable one, for the dead-letter policy
    with home_ledger(tmp_path) as ledger:
        assert ledger.by_ref(ref).state == "SUCCEEDED"  # type: ignore[union-attr]


def test_consume_a_queue_that_does_not_exist_is_one_line(queue: Queue) -> None:
    missing = queue.url.rsplit("/", 1)[0] + "/no-such-queue"
    invoke("events", "consume", "--sqs", missing, "--drain").fails(4, "SQS queue", "no-such-queue")


def test_consume_without_boto3_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 now raises ImportError
    invoke("events", "consume", "--sqs", "https://sqs.eu-central-1.amazonaws.com/1/q").fails(
        2, "needs boto3", "pip install 'runhub[s3]'"
    )
