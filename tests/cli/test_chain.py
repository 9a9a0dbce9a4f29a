"""``runhub chain``: chain files run end to end on the local backend and on the ICA
emulator served over HTTP (polling), with when/glob/cancel/validation cases."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from emulated import serve  # type: ignore[import-not-found]

REPO = Path(__file__).resolve().parents[2]
FAST = ("--poll-interval", "0.05")


def _pipeline(root: Path, name: str, script: str) -> str:
    folder = root / name
    folder.mkdir(exist_ok=True)
    run_file = folder / "run"
    run_file.write_text("#!/bin/sh\n" + script)
    run_file.chmod(run_file.stat().st_mode | stat.S_IXUSR)
    return str(folder)


def _runs(home: Path) -> int:
    runs = home / "runs"
    return len(list(runs.iterdir())) if runs.is_dir() else 0


def _steps(result: Any) -> dict[tuple[str, str], dict[str, Any]]:
    data = result.json()
    return {(r["row"], s["step"]): s for r in data["rows"] for s in r["steps"]}


def test_a_ten_row_samplesheet_chain_of_two_local_steps_succeeds(
    cli: Any, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)  # the example's paths are relative to the repository
    args = ("chain", "run", "examples/chain/chain.yaml", "--samplesheet")
    done = cli(*args, "examples/chain/samples.csv", "--wait", *FAST, "-o", "json")
    assert done.code == 0, done.err
    data = done.json()
    assert data["verdict"] == "succeeded"
    assert len(data["rows"]) == 10
    for row in data["rows"]:
        assert row["verdict"] == "succeeded"
        assert [(s["step"], s["state"]) for s in row["steps"]] == [
            ("hello", "SUCCEEDED"),
            ("report", "SUCCEEDED"),
        ]
    assert _runs(home) == 20
    # Each report read its own row's summary (mounted from hello's outputs by glob).
    reports = sorted((home / "runs").glob("*/results/report.txt"))
    samples = sorted(p.read_text().split("\t")[0] for p in reports)
    assert samples == [f"S{i:02d}" for i in range(1, 11)]
    # Running it again resumes the same chain: nothing is launched twice.
    again = cli(*args, "examples/chain/samples.csv", "--wait", *FAST, "-o", "json")
    assert again.code == 0, again.err
    assert again.json()["chain"] == data["chain"]
    assert _runs(home) == 20


def test_when_failed_and_always_run_after_a_failure_and_succeeded_steps_are_skipped(
    cli: Any, home: Path, tmp_path: Path
) -> None:
    broken = _pipeline(tmp_path, "broken", "echo boom >&2\nexit 3\n")
    ok = _pipeline(tmp_path, "ok", "echo ok > results/ok.txt\n")
    (tmp_path / "chain.yaml").write_text(
        f"""
backend: local
steps:
  first: {{spec: {{pipeline: {broken}}}}}
  next: {{spec: {{pipeline: {ok}}}, after: [first]}}
  rescue: {{spec: {{pipeline: {ok}}}, after: [first], when: failed}}
  cleanup: {{spec: {{pipeline: {ok}}}, after: [next, rescue], when: always}}
  after_next: {{spec: {{pipeline: {ok}}}, after: [next], when: failed}}
"""
    )
    done = cli("chain", "run", "chain.yaml", "--wait", *FAST, "-o", "json")
    assert done.code == 1, done.err
    steps = _steps(done)
    assert steps[("1", "first")]["state"] == "FAILED"
    assert steps[("1", "next")]["state"] == "skipped"
    assert "first failed" in steps[("1", "next")]["message"]
    assert steps[("1", "rescue")]["state"] == "SUCCEEDED"
    assert steps[("1", "cleanup")]["state"] == "SUCCEEDED"
    assert steps[("1", "after_next")]["state"] == "skipped"  # a skipped step is no failure
    assert done.json()["verdict"] == "failed"
    assert _runs(home) == 3


def test_a_glob_matching_nothing_fails_that_step_and_skips_the_rest(
    cli: Any, home: Path, tmp_path: Path
) -> None:
    ok = _pipeline(tmp_path, "ok", "echo ok > results/ok.txt\n")
    (tmp_path / "chain.yaml").write_text(
        f"""
backend: local
steps:
  align: {{spec: {{pipeline: {ok}}}}}
  call:
    spec: {{pipeline: {ok}}}
    inputs: [{{from: {{step: align, outputs: "*.bam"}}, mount: {{path: bams}}}}]
  report: {{spec: {{pipeline: {ok}}}, after: [call]}}
"""
    )
    done = cli("chain", "run", "chain.yaml", "--wait", *FAST, "-o", "json")
    assert done.code == 1, done.err
    steps = _steps(done)
    assert steps[("1", "align")]["state"] == "SUCCEEDED"
    assert steps[("1", "call")]["state"] == "failed to launch"
    message = steps[("1", "call")]["message"]
    assert "no output of step 'align'" in message
    assert "'*.bam'" in message
    assert "ok.txt" in message  # what there was instead
    assert steps[("1", "report")]["state"] == "skipped"
    assert done.json()["verdict"] == "failed"
    assert _runs(home) == 1


@pytest.mark.parametrize(
    ("body", "phrases"),
    [
        (
            "steps:\n  align: {spec: {pipeline: P}}\n"
            "  call: {spec: {pipeline: P}, after: [algin]}\n",
            ["chain.yaml: steps.call.after[0]: no step named 'algin' (steps: align, call)"],
        ),
        (
            "steps:\n  a: {spec: {pipeline: P}, after: [b]}\n"
            "  b: {spec: {pipeline: P}, after: [a]}\n",
            ["steps: a cycle: a → b → a"],
        ),
        (
            "steps:\n  a: {spec: {pipeline: P}}\n  b:\n    spec: {pipeline: P}\n"
            "    inputs: [{from: {step: a, outputs: '*'}, mount: {}}]\n    backend: x\n",
            ["steps.b.backend: unknown field"],
        ),
        (
            "steps:\n  a: {spec: {pipeline: P}, when: failed}\n",
            ["steps.a.when: 'failed' needs 'after'"],
        ),
        (
            "steps:\n  a: {spec: missing.yaml}\n",
            ["steps.a.spec:", "missing.yaml: no such file"],
        ),
        (
            "steps:\n  a: {spec: {pipeline: P}}\n"
            "  b: {spec: {pipeline: P}, inputs: [{from: {step: a, outputs: '*'}}]}\n",
            ["steps.b.inputs[0]: give exactly one of mount or parameter"],
        ),
        (
            "steps:\n  a: {spec: {pipeline: P, mounts: [{source: '{fq}'}]}}\n",
            ["placeholder {fq} names no samplesheet column", "--samplesheet"],
        ),
    ],
)
def test_validation_errors_are_one_line_exit_2_and_launch_nothing(
    cli: Any, home: Path, tmp_path: Path, body: str, phrases: list[str]
) -> None:
    ok = _pipeline(tmp_path, "ok", "true\n")
    (tmp_path / "chain.yaml").write_text("backend: local\n" + body.replace(": P", f": {ok}"))
    cli("chain", "run", "chain.yaml").fails(2, *phrases)
    assert _runs(home) == 0


def test_data_that_cannot_move_between_backends_is_an_error_before_anything_runs(
    cli: Any, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = _pipeline(tmp_path, "ok", "true\n")
    monkeypatch.setenv("CODEOCEAN_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CODEOCEAN_API_TOKEN", "x")
    (tmp_path / "chain.yaml").write_text(
        f"""
steps:
  a: {{spec: {{backend: local, pipeline: {ok}}}}}
  b:
    spec: {{backend: codeocean, pipeline: 4bc97533-6eb4-48ac-966f-648548a756d2}}
    inputs: [{{from: {{step: a, outputs: "*"}}, mount: {{path: x}}}}]
"""
    )
    line = cli("chain", "run", "chain.yaml").fails(2, "steps.b.inputs[0]:")
    assert "outputs of local cannot reach a codeocean run" in line
    assert _runs(home) == 0


def test_several_problems_are_listed_together(cli: Any, home: Path, tmp_path: Path) -> None:
    ok = _pipeline(tmp_path, "ok", "true\n")
    (tmp_path / "chain.yaml").write_text(
        f"backend: local\nsteps:\n  a: {{spec: {{pipeline: {ok}}}, after: [x]}}\n"
        f"  b: {{spec: {{pipeline: {ok}}}, after: [y]}}\n"
    )
    done = cli("chain", "run", "chain.yaml")
    assert done.code == 2
    assert "2 problems in the chain; nothing was launched" in done.err
    assert "steps.a.after[0]: no step named 'x'" in done.err
    assert "steps.b.after[0]: no step named 'y'" in done.err
    assert "Traceback" not in done.err


def test_cancel_stops_the_chain_and_a_rerun_launches_nothing(
    cli: Any, home: Path, tmp_path: Path
) -> None:
    slow = _pipeline(tmp_path, "slow", "exec sleep 60\n")
    ok = _pipeline(tmp_path, "ok", "true\n")
    (tmp_path / "chain.yaml").write_text(
        f"backend: local\nsteps:\n  a: {{spec: {{pipeline: {slow}}}}}\n"
        f"  b: {{spec: {{pipeline: {ok}}}, after: [a]}}\n"
    )
    started = cli("chain", "run", "chain.yaml", "-o", "json")
    assert started.code == 0, started.err
    chain_id = started.json()["chain"]
    assert _steps(started)[("1", "a")]["state"] in ("PENDING", "QUEUED", "RUNNING")
    stopped = cli("chain", "cancel", chain_id, "-o", "json")
    assert stopped.code == 0, stopped.err
    assert stopped.json()["verdict"] == "cancelled"
    steps = _steps(stopped)
    assert steps[("1", "b")]["state"] == "skipped"
    assert steps[("1", "b")]["message"] == "the chain was cancelled"
    again = cli("chain", "run", "chain.yaml", "--wait", *FAST, "-o", "json")
    assert again.code == 1
    assert again.json()["verdict"] == "cancelled"
    assert _runs(home) == 1
    shown = cli("chain", "status", chain_id, "-o", "json")
    assert _steps(shown)[("1", "a")]["state"] in ("CANCELLING", "CANCELLED")


def test_status_of_an_unknown_chain_is_one_line(cli: Any) -> None:
    cli("chain", "status", "c-0000000000000000").fails(4, "no chain 'c-0000000000000000'")


SEED_CHAIN = """\
# The seed "Pipeline Chaining on AWS": when the first analysis succeeds, its
# output test.txt is the input of the second pipeline.
backend: ica
steps:
  first:
    spec:
      pipeline: fastqc-0-12
      name: Hello first
      mounts: [{source: /fastqs/, input: reads}]
  second:
    after: [first]
    spec: {pipeline: nf-core-rnaseq-3-14-0, name: CallLambda second}
    inputs:
      - from: {step: first, outputs: test.txt}
        mount: {input: input}
"""


def test_the_seed_chaining_scenario_on_the_ica_emulator_by_polling(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "seed.yaml").write_text(SEED_CHAIN)
    with serve("ica", monkeypatch) as served:
        served.app.world.extra_outputs = (("test.txt", 12),)
        done = cli("chain", "run", "seed.yaml", "--wait", *FAST, "-o", "json")
        assert done.code == 0, done.err
        assert done.json()["verdict"] == "succeeded"
        first, second = served.app.created
        assert first["userReference"] == "Hello first"
        analyses = list(served.app.world.analyses.values())
        test_txt = next(d for d in analyses[0].outputs if d.path.endswith("/test.txt"))
        inputs = second["analysisInput"]["inputs"]
        assert inputs == [{"parameterCode": "input", "dataIds": [test_txt.id]}]
        # Again: the same chain, re-attached; no third analysis.
        again = cli("chain", "run", "seed.yaml", "--wait", *FAST, "-o", "json")
        assert again.code == 0, again.err
        assert len(served.app.created) == 2


def test_a_chain_file_may_name_spec_files_relative_to_itself(
    cli: Any, home: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "chains"
    folder.mkdir()
    ok = _pipeline(tmp_path, "ok", 'echo "$1" > results/out.txt\n')
    (folder / "step.yaml").write_text(f"pipeline: {ok}\nparameters: ['{{sample}}']\n")
    (folder / "chain.yaml").write_text("backend: local\nsteps:\n  a: {spec: step.yaml}\n")
    (tmp_path / "sheet.csv").write_text("sample\nX\nY\n")
    done = cli(
        "chain", "run", "chains/chain.yaml", "--samplesheet", "sheet.csv", "--wait", *FAST,
        "-o", "json",
    )  # fmt: skip
    assert done.code == 0, done.err
    outs = sorted(p.read_text().strip() for p in (home / "runs").glob("*/results/out.txt"))
    assert outs == ["X", "Y"]
    shutil.rmtree(folder)  # the ledger holds the definition: status needs no file
    shown = cli("chain", "status", done.json()["chain"], "-o", "json")
    assert shown.code == 0, shown.err
    assert json.loads(shown.out)["verdict"] == "succeeded"


def test_data_moves_local_to_ica_by_upload_and_ica_to_local_by_download(
    cli: Any, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = (
        "cat data/in.txt > results/all.txt 2>/dev/null; ls data > results/ls.txt;"
        ' echo "$@" > results/args.txt\n'
    )
    tool = _pipeline(tmp_path, "tool", script)
    (tmp_path / "in.txt").write_text("local input\n")
    (tmp_path / "chain.yaml").write_text(
        f"""
steps:
  up: {{spec: {{backend: local, pipeline: {tool}, mounts: [{{source: in.txt}}]}}}}
  ica:
    spec: {{backend: ica, pipeline: nf-core-rnaseq-3-14-0, name: from-local}}
    inputs: [{{from: {{step: up, outputs: all.txt}}, mount: {{input: input}}}}]
  down:
    spec: {{backend: local, pipeline: {tool}}}
    inputs:
      - {{from: {{step: ica, outputs: test.txt}}, mount: {{path: fromica.txt}}}}
      - {{from: {{step: ica, outputs: "*.summary.tsv"}}, parameter: summary}}
"""
    )
    with serve("ica", monkeypatch) as served:
        served.app.world.extra_outputs = (("test.txt", 12),)
        done = cli("chain", "run", "chain.yaml", "--wait", *FAST, "-o", "json")
        assert done.code == 0, done.err
        assert done.json()["verdict"] == "succeeded"
        (created,) = served.app.created
        (fed,) = created["analysisInput"]["inputs"]
        staged = served.app.world.data[fed["mounts"][0]["dataId"]]
        assert staged.path.endswith("/all.txt")  # uploaded from the local step's results
    down = _steps(done)[("1", "down")]["ref"].split(":", 1)[1]
    results = home / "runs" / down / "results"
    assert "fromica.txt" in (results / "ls.txt").read_text().split()
    args = (results / "args.txt").read_text()
    assert "--summary" in args
    assert str(home / "chains") in args  # the summary was downloaded under RUNHUB_HOME
    assert args.strip().endswith(".summary.tsv")


def test_an_id_given_twice_for_two_chains_is_refused(cli: Any, home: Path, tmp_path: Path) -> None:
    ok = _pipeline(tmp_path, "ok", "true\n")
    (tmp_path / "one.yaml").write_text(
        f"backend: local\nsteps:\n  a: {{spec: {{pipeline: {ok}}}}}\n"
    )
    (tmp_path / "two.yaml").write_text(
        f"backend: local\nsteps:\n  b: {{spec: {{pipeline: {ok}}}}}\n"
    )
    assert cli("chain", "run", "one.yaml", "--id", "mine", "--wait", *FAST).code == 0
    cli("chain", "run", "two.yaml", "--id", "mine").fails(2, "'mine' already names another chain")
    assert _runs(home) == 1
