"""The broken promises of issue 14, end to end through the CLI against the emulators
served over HTTP: one bad run never breaks a --batch command (a run deleted on the
platform is one row; a cancel through runhub is recorded), pre-flight means
pre-flight (every row checked on the platform before anything launches, for a
handful of requests), and --retry-failed adds attempts only where runs failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from emulated import CO_TEMPLATE, ICA_TEMPLATE, co_sheet, ica_sheet, serve
from runhub_ica.emulator import seed

from runhub.ledger import Ledger


def _files(tmp_path: Path, template: str, sheet: str) -> tuple[str, str]:
    spec, rows = tmp_path / "template.yaml", tmp_path / "rows.csv"
    spec.write_text(template)
    rows.write_text(sheet)
    return str(spec), str(rows)


def test_batch_commands_report_every_run_when_one_was_deleted(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve("codeocean", monkeypatch) as co:
        spec, rows = _files(tmp_path, CO_TEMPLATE, co_sheet(3))
        launched = cli("batch", spec, rows, "-o", "json")
        assert launched.code == 0, launched.err
        batch = launched.json()["batch"]
        refs = [r["ref"] for r in launched.json()["runs"]]
        del co.app.runs[refs[1].partition(":")[2]]  # deleted on the platform, not by runhub
        # Issue 12: a computation Code Ocean no longer has is over (CANCELLED, native
        # "deleted"); the others keep their real status.
        for command, code in ((("wait", "--poll", "0.05"), 1), (("status",), 0)):
            done = cli(*command, "--batch", batch, "-o", "json")
            assert done.code == code, (command, done.err)
            seen = {r["ref"]: r for r in done.json()}
            assert set(seen) == set(refs)
            assert (seen[refs[1]]["state"], seen[refs[1]]["native"]) == ("CANCELLED", "deleted")
            assert "no longer exists" in seen[refs[1]]["message"]
            assert {seen[r]["state"] for r in (refs[0], refs[2])} == {"SUCCEEDED"}
        table = cli("wait", "--batch", batch, "--poll", "0.05", "--wide")
        assert table.code == 1
        rows_shown = table.lines[[line.split()[0] for line in table.lines].index("REF") + 1 :]
        shown = sorted(line.split()[2] for line in rows_shown)
        assert shown == ["CANCELLED", "SUCCEEDED", "SUCCEEDED"]
        assert any("CANCELLED" in line and refs[1] in line for line in rows_shown)
        listed = cli("outputs", "--batch", batch, "-o", "json")
        assert listed.code == 4
        assert [r["ref"] for r in listed.json()] == [refs[0], refs[2]]
        assert f"runhub: {refs[1]}:" in listed.err
        fetched = cli("outputs", "--batch", batch, "--download", str(tmp_path / "out"))
        assert fetched.code == 0, fetched.err  # only succeeded runs are fetched
        assert f"skipping {refs[1]} (CANCELLED)" in fetched.err


def test_cancel_through_runhub_is_recorded_and_survives_the_deletion(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    with serve("codeocean", monkeypatch, speed=0.001) as co:  # runs stay running
        spec, rows = _files(tmp_path, CO_TEMPLATE, co_sheet(3))
        launched = cli("batch", spec, rows, "-o", "json")
        batch = launched.json()["batch"]
        refs = [r["ref"] for r in launched.json()["runs"]]
        del co.app.runs[refs[1].partition(":")[2]]
        cancelled = cli("cancel", "--batch", batch, "--yes", "-o", "json")
        # The run deleted elsewhere is already over (issue 12: CANCELLED, "deleted").
        assert cancelled.code == 0, cancelled.err
        states = {r["ref"]: (r["state"], r["native"]) for r in cancelled.json()}
        assert states == dict.fromkeys(refs, ("CANCELLED", "deleted"))
        ledger = Ledger(home / "ledger.sqlite")
        assert [ledger.by_ref(r).state for r in refs] == ["CANCELLED"] * 3  # type: ignore[union-attr]
        # A later process: Code Ocean deleted the cancelled runs, and the one deleted
        # elsewhere no longer exists either: each is over (issue 12), none an error.
        again = cli("status", "--batch", batch, "-o", "json")
        assert again.code == 0, again.err
        after = {r["ref"]: (r["state"], r["native"]) for r in again.json()}
        assert after == dict.fromkeys(refs, ("CANCELLED", "deleted"))
        one = cli("status", refs[0], "-o", "json")
        assert one.code == 0
        assert one.json()[0]["state"] == "CANCELLED"


def test_cancel_of_a_finished_run_says_so_and_leaves_it(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve("codeocean", monkeypatch) as co:
        spec, rows = _files(tmp_path, CO_TEMPLATE, co_sheet(1))
        done = cli("batch", spec, rows, "--wait", "--poll", "0.05", "-o", "json")
        ref = done.json()["runs"][0]["ref"]
        again = cli("cancel", ref, "--yes")
        assert again.code == 0, again.err
        assert "had already finished (SUCCEEDED); nothing to cancel" in again.err
        assert ref.partition(":")[2] in co.app.runs  # not deleted
        assert not any(method == "DELETE" for method, _ in co.app.requests)


@pytest.mark.parametrize("platform", ["ica", "codeocean"])
def test_preflight_checks_every_row_before_anything_launches(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    with serve(platform, monkeypatch) as served:
        if platform == "ica":
            bad = {2: {"fastqs": "/fastqs-missing/"}, 5: {"input": "fastq"}}
            sheet, template = ica_sheet(8, bad=bad), ICA_TEMPLATE
            why = (
                "row 4: mounts.0.source: no file or folder at '/fastqs-missing/'",
                "row 7: mounts.0.input: pipeline 'dragen-germline-4-3-6' has no data input",
            )
        else:
            bad = {2: {"asset": "bf8cf993-a583-495c-bebd-000000000000"},
                   5: {"capsule": "00000000-0000-4000-8000-000000000000"}}  # fmt: skip
            sheet, template = co_sheet(8, bad=bad), CO_TEMPLATE
            why = ("row 4: mounts.0.source: no data asset bf8cf993-a583-495c-bebd-000000000000",
                   "row 7: pipeline: no capsule 00000000-0000-4000-8000-000000000000")  # fmt: skip
        spec, rows = _files(tmp_path, template, sheet)
        for extra in (("--dry-run",), ("--wait", "--poll", "0.05")):
            done = cli("batch", spec, rows, *extra)
            assert done.code == 4, done.err
            assert "2 problems in the batch; nothing was launched" in done.err
            for line in why:
                assert line in done.err
        assert served.created() == 0


@pytest.mark.parametrize("platform", ["ica", "codeocean"])
def test_preflight_costs_a_handful_of_requests_whatever_the_rows(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, platform: str
) -> None:
    counts = []
    for rows_count in (5, 60):
        with serve(platform, monkeypatch) as served:
            sheet = ica_sheet(rows_count) if platform == "ica" else co_sheet(rows_count)
            template = ICA_TEMPLATE if platform == "ica" else CO_TEMPLATE
            spec, rows = _files(tmp_path, template, sheet)
            done = cli("batch", spec, rows, "--dry-run", "-o", "json")
            assert done.code == 0, done.err
            sent = done.json()["preflight"]["requests"]
            asked = len(served.app.log) if platform == "ica" else len(served.app.requests)
            assert sent == asked
            counts.append(sent)
            assert served.created() == 0
    assert counts[0] == counts[1] <= 6


def test_validate_remote_checks_the_platform(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = tmp_path / "run.yaml"
    with serve("codeocean", monkeypatch):
        spec.write_text(
            "backend: codeocean\npipeline: 00000000-0000-4000-8000-000000000000\n"
            "parameters: ['75']\n"
        )
        cli("validate", str(spec), "--remote").fails(4, "no capsule 00000000-0000-4000-8000")
        spec.write_text("backend: codeocean\npipeline: 3f2f5a8e-1c61-4f0b-9a55-6d1f2c7b9e01\n")
        assert cli("validate", str(spec), "--remote").code == 0
    with serve("ica", monkeypatch):
        spec.write_text(
            "backend: ica\npipeline: fastqc-0-12\nmounts:\n  - {source: /fastqs/, input: fastq}\n"
        )
        cli("validate", str(spec), "--remote").fails(2, "mounts.0.input", "valid inputs: reads")
        spec.write_text(
            "backend: ica\npipeline: fastqc-0-12\nmounts:\n  - {source: /fastqs/, input: reads}\n"
        )
        done = cli("validate", str(spec), "--remote", "-o", "json")
        assert done.code == 0, done.err
        assert any("inputParameters" in line for line in done.json()["lookups"])


def test_retry_failed_adds_attempts_only_to_failed_rows(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    with serve("ica", monkeypatch) as ica:
        failing = {1: {"mode": seed.FAIL_VALUE}, 3: {"mode": seed.FAIL_VALUE}}
        spec, rows = _files(tmp_path, ICA_TEMPLATE, ica_sheet(5, bad=failing))
        first = cli("batch", spec, rows, "--wait", "--poll", "0.05", "-o", "json")
        assert first.code == 1, first.err
        assert first.json()["summary"] == {"SUCCEEDED": 3, "FAILED": 2}
        before = {r["row"]: r["ref"] for r in first.json()["runs"]}
        plain = cli("batch", spec, rows, "-o", "json")  # no flag: nothing new
        assert {r["row"]: r["ref"] for r in plain.json()["runs"]} == before
        assert ica.created() == 5
        retried = cli(
            "batch", spec, rows, "--retry-failed", "--wait", "--poll", "0.05", "-o", "json"
        )
        assert ica.created() == 7
        runs = {r["row"]: r for r in retried.json()["runs"]}
        assert {row: r["attempt"] for row, r in runs.items()} == {2: 1, 3: 2, 4: 1, 5: 2, 6: 1}
        for row in (2, 4, 6):
            assert runs[row]["ref"] == before[row]  # succeeded rows untouched
        for row in (3, 5):
            assert runs[row]["ref"] != before[row]
        ledger = Ledger(home / "ledger.sqlite")
        batch = first.json()["batch"]
        attempts = ledger.attempts(batch, runs[3]["row_key"])
        assert [a.ref for a in attempts] == [before[3], runs[3]["ref"]]  # both kept
        record = ledger.spec_record(attempts[1].key)
        assert record is not None
        assert record.previous == attempts[0].key
        # status --batch follows each row's latest attempt
        latest = cli("status", "--batch", batch, "-q")
        assert sorted(latest.lines) == sorted(r["ref"] for r in runs.values())
        show = cli("show", runs[3]["ref"], "-o", "json").json()
        assert show["ledger"]["attempt"] == 2
        assert show["ledger"]["previous"] == before[3]


def test_relaunch_launches_the_ledgers_spec_once(cli: Any, failing_spec: Path, home: Path) -> None:
    ref = cli("launch", str(failing_spec), "--wait").out.splitlines()[0]
    again = cli("relaunch", ref, "--wait")
    assert again.code == 1  # the same spec fails the same way
    new = again.out.splitlines()[0]
    assert new != ref
    assert f"relaunched {ref} as {new}" in again.err
    shown = cli("show", ref, "-o", "json").json()
    assert shown["ledger"]["relaunched_as"] == [new]
    assert shown["spec"] == cli("show", new, "-o", "json").json()["spec"]
    cli("relaunch", ref).fails(2, "was relaunched already", f"runhub relaunch {new}")
    cli("relaunch", "local:20991231T000000-deadbeef").fails(2, "no launch of")
