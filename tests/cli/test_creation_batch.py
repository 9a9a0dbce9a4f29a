"""``runhub batch`` on ICA end to end, the emulator served over HTTP: rows created in
creation batches, a row ICA cannot create failing alone, a kill and a re-run, the
dry run showing the chunks, and ``--no-creation-batch``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from emulated import ICA_TEMPLATE, ica_sheet, serve

from runhub.ledger import Ledger

MISSING = "fil.0123456789abcdef0123456789abcdef"


def files(tmp_path: Path, rows: int, **sheet: Any) -> tuple[str, str]:
    (tmp_path / "t.yaml").write_text(ICA_TEMPLATE)
    (tmp_path / "s.csv").write_text(ica_sheet(rows, **sheet))
    return str(tmp_path / "t.yaml"), str(tmp_path / "s.csv")


def batch_posts(app: Any) -> int:
    return sum(1 for line in app.log if line.startswith("POST") and "CreationBatch" in line)


def test_a_batch_is_created_in_chunks_and_followed_to_the_end(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNHUB_ICA_CREATION_BATCH_SIZE", "10")
    spec, sheet = files(tmp_path, 25)
    with serve("ica", monkeypatch) as ica:
        done = cli("batch", spec, sheet, "--wait", "--poll", "0.05", "-o", "json")
        again = cli("batch", spec, sheet, "-o", "json")
    assert done.code == 0, done.err
    assert done.json()["summary"] == {"SUCCEEDED": 25}
    assert batch_posts(ica.app) == 3
    assert len(ica.app.analyses) == 25
    assert not any(line.endswith("/analysis:nextflow") for line in ica.app.log)
    by_name = {a.user_reference: a.id for a in ica.app.analyses}
    for run in done.json()["runs"]:  # each row's ref is the analysis of its own name
        assert run["ref"].endswith(by_name[run["name"]])
    assert again.code == 0
    assert [r["ref"] for r in again.json()["runs"]] == [r["ref"] for r in done.json()["runs"]]
    assert len(ica.app.analyses) == 25


def test_a_row_ica_cannot_create_fails_alone_with_icas_reason(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, sheet = files(tmp_path, 6, bad={3: {"fastqs": MISSING}})
    with serve("ica", monkeypatch) as ica:
        result = cli("batch", spec, sheet, "-o", "json")
    assert result.code == 4, result.err
    runs = result.json()["runs"]
    assert [r["ref"] is None for r in runs] == [False, False, False, True, False, False]
    assert f"Data {MISSING} does not exist" in runs[3]["error"]
    assert f"runhub: row 5: ICA could not create this run: Data {MISSING}" in result.err
    assert len(ica.app.analyses) == 5


def test_killed_while_the_batch_is_created_then_run_again_makes_one_run_per_row(
    cli: Any, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNHUB_ICA_CREATION_BATCH_SIZE", "5")
    spec, sheet = files(tmp_path, 20)
    with serve("ica", monkeypatch, speed=50) as ica:
        ica.app.batches.delay = 30.0  # the analyses appear 0.6 s after each batch
        first = subprocess.Popen(
            [sys.executable, "-m", "runhub.cli", "batch", spec, sheet],
            env=dict(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        ledger = Ledger(home / "ledger.sqlite")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and first.poll() is None:
            if len(ica.app.batches.batches) >= 4:  # every chunk accepted, none read
                break
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert all(r.ref is None for r in ledger.batch(ledger.runs(limit=1)[0].batch or ""))
        again = cli("batch", spec, sheet, "--wait", "--poll", "0.05", "-o", "json")
    assert again.code == 0, again.err
    assert len(ica.app.analyses) == 20
    assert len(ica.app.batches.batches) == 4  # the re-run read them, created none
    assert len({r["ref"] for r in again.json()["runs"]}) == 20


def test_dry_run_shows_the_first_request_in_full_and_the_others_summarised(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNHUB_ICA_CREATION_BATCH_SIZE", "4")
    spec, sheet = files(tmp_path, 10)
    with serve("ica", monkeypatch) as ica:
        text = cli("batch", spec, sheet, "--dry-run")
        data = cli("batch", spec, sheet, "--dry-run", "-o", "json")
    assert text.code == 0, text.err
    assert "10 of 10 runs would be created in 3 group requests (not sent)" in text.out
    assert text.out.count('"userReference"') == 4  # the first request's body only
    assert "# request 2: POST" in text.out
    assert "# request 3: POST" in text.out
    assert "2 runs, Idempotency-Key runhub-cb-" in text.out
    requests = data.json()["group_requests"]
    assert [r["runs"] for r in requests] == [4, 4, 2]
    assert "body" in requests[0]
    assert "body" not in requests[1]
    assert ica.app.analyses == []
    assert batch_posts(ica.app) == 0


def test_no_creation_batch_sends_one_create_per_run(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, sheet = files(tmp_path, 4)
    with serve("ica", monkeypatch) as ica:
        result = cli("batch", spec, sheet, "--no-creation-batch", "-o", "json")
    assert result.code == 0, result.err
    assert batch_posts(ica.app) == 0
    assert sum(1 for line in ica.app.log if line.endswith("/analysis:nextflow")) == 4
