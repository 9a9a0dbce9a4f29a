"""The smaller things of issue 14: parameters from a file, launch from flags alone,
tables that fit, settings and backend typos, disabled plugins, install hints,
outputs of a run still going, the README's sample output."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import run_script
from emulated import ICA_TEMPLATE, ica_sheet, serve

from runhub.cli.helpers.fit import distinct_length, fit, shared_elided


def test_params_file_is_merged_into_the_parameters(cli: Any, tmp_path: Path) -> None:
    folder = tmp_path / "echo"
    folder.mkdir()
    (folder / "run").write_text('#!/bin/sh\necho "$@" > results/args.txt\n')
    (folder / "run").chmod(0o755)
    (tmp_path / "echo.yaml").write_text("pipeline: echo\nparameters: {a: 1, b: 2}\n")
    (tmp_path / "params.yaml").write_text("b: from-file\nc: 3\n")
    (tmp_path / "params.json").write_text('{"c": 4}')
    done = cli(
        "launch", str(tmp_path / "echo.yaml"), "--params-file", str(tmp_path / "params.yaml"),
        "--set", "parameters.c=from-set", "--wait", "-o", "json",
    )  # fmt: skip
    assert done.code == 0, done.err
    ref = done.json()["run"]["ref"]
    assert cli("show", ref, "-o", "json").json()["spec"]["parameters"] == {
        "a": 1, "b": "from-file", "c": "from-set"
    }  # fmt: skip
    (tmp_path / "rows.csv").write_text("x\n1\n2\n")
    (tmp_path / "t.yaml").write_text("pipeline: echo\nname: 'r{x}'\nparameters: {x: '{x}'}\n")
    batch = cli(
        "batch", str(tmp_path / "t.yaml"), str(tmp_path / "rows.csv"),
        "--params-file", str(tmp_path / "params.json"), "--dry-run", "-o", "json",
    )  # fmt: skip
    assert batch.code == 0, batch.err
    assert [r["spec"]["parameters"] for r in batch.json()["runs"]] == [
        {"x": "1", "c": 4}, {"x": "2", "c": 4}
    ]  # fmt: skip
    (tmp_path / "bad.yaml").write_text("just text\n")
    cli("launch", str(tmp_path / "echo.yaml"), "--params-file", str(tmp_path / "bad.yaml")).fails(
        2, "bad.yaml", "params file"
    )


def test_launch_from_flags_alone(cli: Any, ok_spec: Path) -> None:
    done = cli("launch", "-", "--set", "pipeline=greet", "--set", "parameters=[you]", "--wait",
               stdin="")  # fmt: skip
    assert done.code == 0, done.err
    cli("launch", "-", stdin="").fails(2, "pipeline")


def test_tables_fit_the_terminal_and_wide_keeps_refs_whole(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve("ica", monkeypatch):
        (tmp_path / "t.yaml").write_text(ICA_TEMPLATE)
        (tmp_path / "rows.csv").write_text(ica_sheet(4))
        done = cli("batch", str(tmp_path / "t.yaml"), str(tmp_path / "rows.csv"), "--wait",
                   "--poll", "0.05", "-o", "json")  # fmt: skip
        refs = [r["ref"] for r in done.json()["runs"]]
        batch = done.json()["batch"]
        monkeypatch.setenv("COLUMNS", "80")
        narrow = cli("status", "--batch", batch)
        assert narrow.code == 0, narrow.err
        assert max(len(line) for line in narrow.lines) <= 80
        shown = [line.split()[0] for line in narrow.lines[1:]]
        assert len(set(shown)) == 4  # still tells the runs apart
        assert all(s.startswith("ica:…/") for s in shown)
        wide = cli("status", "--batch", batch, "--wide")
        assert sorted(line.split()[0] for line in wide.lines[1:]) == sorted(refs)
        as_json = cli("status", "--batch", batch, "-o", "json").json()
        assert sorted(r["ref"] for r in as_json) == sorted(refs)


def test_fit_keeps_refs_distinct() -> None:
    refs = [f"ica:0d4f6a1e-6b1c-4a8e-9a51-2f3c5b7e8d90/{i}1870cb39-14df-454e" for i in range(3)]
    assert shared_elided(refs) == [f"ica:…/{i}1870cb39-14df-454e" for i in range(3)]
    cells = [[r, "RUNNING", "x" * 90] for r in refs]
    _, fitted = fit(("REF", "STATE", "MESSAGE"), cells, 60)
    assert all(len("  ".join(row)) <= 60 for row in fitted)
    assert len({row[0] for row in fitted}) == 3
    assert distinct_length(["abcdefghijklmnop1", "abcdefghijklmnop2"]) == 17


def test_settings_and_backend_typos_say_what_was_meant(
    cli: Any, ok_spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cli("-S", "ica.projectid=x", "config", "show", "--backend", "ica").fails(
        2, "unknown -S setting ica.projectid", "did you mean 'project_id'?"
    )
    (tmp_path / "config.toml").write_text('[default.ica]\nserver_ulr = "https://x"\n')
    cli("config", "show", "--backend", "ica").fails(2, "server_ulr", "did you mean 'server_url'?")
    (tmp_path / "config.toml").write_text("")
    cli("launch", str(ok_spec), "--backend", "icav2").fails(2, "did you mean 'ica'?")
    hint = cli("launch", str(ok_spec), "--backend", "slurm").fails(2, "unknown backend 'slurm'")
    assert "pip install ./plugins/slurm" in hint
    monkeypatch.setenv("RUNHUB_DISABLE_PLUGINS", "ica")
    done = run_script("launch", str(ok_spec), "--backend", "ica", cwd=tmp_path)  # a fresh registry
    assert done.returncode == 2, done.stderr
    assert "backend 'ica' is disabled by RUNHUB_DISABLE_PLUGINS" in done.stderr
    assert "remove ica from RUNHUB_DISABLE_PLUGINS" in done.stderr


def test_outputs_of_a_run_still_going_say_so(cli: Any, slow_spec: Path) -> None:
    ref = cli("launch", str(slow_spec)).out.strip()
    done = cli("outputs", ref)
    assert done.code == 0, done.err
    assert re.search(r"is still (QUEUED|RUNNING): its outputs appear when it has ended", done.err)
    cli("cancel", ref, "--yes")


def test_the_readme_sample_output_is_what_launch_prints(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(repo)  # the quick start runs from the clone
    readme = (repo / "README.md").read_text(encoding="utf-8")
    sample = readme.split("prints the run reference", 1)[1].split("```text\n", 1)[1]
    sample_lines = sample.split("\n```", 1)[0].splitlines()
    done = cli("launch", str(repo / "examples" / "hello" / "runspec.yaml"), "--wait")
    assert done.code == 0, done.err
    got = done.lines

    def shape(line: str) -> str:
        line = re.sub(r"local:\d{8}T\d{6}-[0-9a-f]{8}", "REF", line)
        return re.sub(r"\d\d:\d\d:\d\dZ", "TIME", line)

    wanted = [shape(line) for line in sample_lines]
    seen = [shape(line) for line in got]
    assert seen[0] == wanted[0] == "REF"
    assert seen[-2:] == wanted[-2:]  # the outputs table
    states = [line for line in seen if line.startswith("TIME")]
    assert states[-1] == wanted[-3]
    assert set(states) <= set(wanted)  # a state a fast run skips may be missing
    after = readme.split("Then, with the environment", 1)[1].split("## A run spec", 1)[0]
    assert "paste" in after
    assert "local:20261123T101500-3f84b48d" not in after  # the user's own ref, not ours


def test_the_progress_bar_keeps_unsent_rows_apart_from_pending_runs(tmp_path: Path) -> None:
    from runhub.cli.batch import progress
    from runhub.ledger import Intent, Ledger
    from runhub.ref import RunRef
    from runhub.state import RunState, RunStatus

    ledger = Ledger(tmp_path / "l.sqlite")
    rows = [ledger.intent("toy", "h", batch="b", row_key=f"r{i}") for i in range(3)]
    ledger.launched(rows[0].key, RunStatus(RunRef("toy", "1"), RunState.PENDING, "REQUESTED"))
    ledger.intents([Intent("toy", "h", "b", "other")])  # another attempt's row: not counted
    done, text = progress(ledger.batch("b"), ["r0", "r1", "r2", "r3"])
    assert (done, text) == (1, "PENDING:1 not launched:3")
