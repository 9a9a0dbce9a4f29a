"""show, logs and runs --remote: local runs, and ICA and Code Ocean served over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from emulated import ASSET, CAPSULE, CO_TEMPLATE, ICA_TEMPLATE, co_sheet, ica_sheet, serve
from runhub_ica.emulator import seed


def _batch(cli: Any, tmp_path: Path, template: str, sheet: str) -> list[dict[str, Any]]:
    spec, rows = tmp_path / "t.yaml", tmp_path / "rows.csv"
    spec.write_text(template)
    rows.write_text(sheet)
    done = cli("batch", str(spec), str(rows), "--wait", "--poll", "0.05", "-o", "json")
    assert done.code in (0, 1), done.err
    runs: list[dict[str, Any]] = done.json()["runs"]
    return runs


def test_show_and_logs_of_a_local_run(cli: Any, failing_spec: Path) -> None:
    ref = cli("launch", str(failing_spec), "--wait").out.splitlines()[0]
    shown = cli("show", ref)
    assert shown.code == 0, shown.err
    text = shown.out
    for phrase in ("ref:", "state:", "FAILED", "exit code:", "3", "pipeline:", "broken",
                   "web page:", "file://", "spec (as launched, from the ledger):"):  # fmt: skip
        assert phrase in text, phrase
    data = cli("show", ref, "-o", "json").json()
    assert data["spec"]["pipeline"] == "broken"
    assert data["platform"]["status"]["exit_code"] == 3
    assert data["ledger"]["attempt"] == 1
    assert cli("logs", ref, "--stderr").out == "boom\n"
    empty = cli("logs", ref)
    assert (empty.code, empty.out) == (0, "")
    assert "the stdout log is empty" in empty.err
    as_json = cli("logs", ref, "--stderr", "-o", "json").json()
    assert (as_json["text"], as_json["complete"], as_json["stream"]) == ("boom\n", True, "stderr")


def test_logs_follow_a_local_run_to_its_end(cli: Any, tmp_path: Path) -> None:
    folder = tmp_path / "ticks"
    folder.mkdir()
    (folder / "run").write_text("#!/bin/sh\nfor i in 1 2 3; do echo tick $i; sleep 0.2; done\n")
    (folder / "run").chmod(0o755)
    (tmp_path / "ticks.yaml").write_text("pipeline: ticks\n")
    ref = cli("launch", str(tmp_path / "ticks.yaml")).out.strip()
    done = cli("logs", ref, "--follow", "--poll", "0.05")
    assert done.code == 0, done.err
    assert done.out == "tick 1\ntick 2\ntick 3\n"


def test_show_and_logs_on_ica(cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with serve("ica", monkeypatch):
        runs = _batch(cli, tmp_path, ICA_TEMPLATE, ica_sheet(2, bad={1: {"mode": seed.FAIL_VALUE}}))
        ok, failed = runs[0]["ref"], runs[1]["ref"]
        data = cli("show", failed, "-o", "json").json()
        platform = data["platform"]
        assert platform["pipeline"] == "dragen-germline-4-3-6"
        assert platform["parameters"] == {"sample_ids": ["S001"], "mode": seed.FAIL_VALUE}
        assert {i["input"] for i in platform["inputs"]} == {"fastqs", "ref_tar"}
        assert platform["storage"] == "Medium"
        project, _, analysis = failed.partition(":")[2].partition("/")
        assert platform["url"].endswith(f"/ica/projects/{project}/analyses/{analysis}")
        assert platform["status"]["state"] == "FAILED"
        assert data["spec"]["name"] == "germline S001"
        text = cli("show", ok).out
        assert "storage:" in text
        assert "inputs:" in text
        assert "fastqs:" in text
        out = cli("logs", failed)
        assert out.code == 0, out.err
        assert "== dragen-germline-4-3-6 (FAILED) ==" in out.out
        assert "== prepare_inputs (DONE) ==" in out.out
        err = cli("logs", failed, "--stderr")
        assert "ERROR: step failed" in err.out
        followed = cli("logs", ok, "--follow", "--poll", "0.05")
        assert followed.out.endswith("finished\n")


def test_show_and_logs_on_codeocean(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve("codeocean", monkeypatch):
        runs = _batch(cli, tmp_path, CO_TEMPLATE, co_sheet(2, bad={1: {"mode": "fail"}}))
        ok, failed = runs[0]["ref"], runs[1]["ref"]
        data = cli("show", failed, "-o", "json").json()["platform"]
        assert data["parameters"] == ["75", "2", "fail"]
        assert data["inputs"] == [{"source": ASSET, "path": "Reference"}]
        assert data["pipeline"] == f"capsule {CAPSULE}"
        assert data["status"]["exit_code"] == 1
        assert data["extra"]["end_status"] == "failed"
        log = cli("logs", failed)
        assert "exit code 1" in log.out
        assert "mounted " + ASSET in log.out
        assert "done: results" in cli("logs", ok).out
        cli("logs", ok, "--stderr").fails(2, "no separate stderr log", f"runhub logs {ok}")
        table = cli("status", failed, ok)
        assert "exit code 1" in table.out  # a failed Code Ocean run's exit code in MESSAGE


def test_runs_remote_lists_the_platforms_runs(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve("ica", monkeypatch) as ica:
        runs = _batch(cli, tmp_path, ICA_TEMPLATE, ica_sheet(3))
        done = cli("-S", "ica.page_size=2", "runs", "--remote", "--backend", "ica", "-o", "json")
        assert done.code == 0, done.err
        listed = done.json()
        assert sorted(r["ref"] for r in listed) == sorted(r["ref"] for r in runs)
        assert all(r["in_ledger"] and r["batch"] for r in listed)
        searches = [line for line in ica.app.log if line.endswith("analysis:search")]
        assert len(searches) >= 2  # cursor paging: 3 runs at 2 a page
        first = cli("runs", "--remote", "--backend", "ica", "-n", "1", "-q").lines
        assert len(first) == 1
        assert first[0] in {r["ref"] for r in listed}
    with serve("codeocean", monkeypatch) as co:
        runs = _batch(cli, tmp_path, CO_TEMPLATE, co_sheet(2))
        # a run started elsewhere (the web interface): not in the ledger, listed all the same
        co.app.handle(_co_run_request(co.server.url))
        done = cli("runs", "--remote", "--backend", "codeocean", "--capsule", CAPSULE, "-o", "json")
        assert done.code == 0, done.err
        listed = done.json()
        assert len(listed) == 3
        assert sum(r["in_ledger"] for r in listed) == 2
        table = cli("runs", "--remote", "--backend", "codeocean", "--capsule", CAPSULE)
        assert table.lines[0].split() == ["REF", "NAME", "BACKEND", "BATCH", "STATE", "LAUNCHED"]
        cli("runs", "--remote", "--backend", "codeocean").fails(2, "--capsule")
        cli("runs", "--remote", "--backend", "local").fails(2, "no platform runs")


def _co_run_request(url: str) -> Any:
    import httpx
    from runhub_codeocean.emulator import DEFAULT_TOKEN

    return httpx.Request(
        "POST",
        f"{url}/api/v1/computations",
        json={"capsule_id": CAPSULE, "parameters": ["75", "1", "HS25"]},
        headers={"Authorization": httpx.BasicAuth(DEFAULT_TOKEN, "")._auth_header},
    )


def test_codeocean_catalog_answers_load_with_the_sdk_models() -> None:
    import httpx
    from codeocean.models.capsule import Capsule
    from codeocean.models.computation import Computation
    from codeocean.models.data_asset import DataAsset
    from runhub_codeocean.emulator import DEFAULT_TOKEN, CodeOceanEmulator

    app = CodeOceanEmulator()
    auth = {"Authorization": httpx.BasicAuth(DEFAULT_TOKEN, "")._auth_header}

    def get(path: str) -> Any:
        answer = app.handle(httpx.Request("GET", f"http://co/api/v1/{path}", headers=auth))
        assert answer.status_code == 200, answer.text
        return answer.json()

    capsule = Capsule.from_dict(get(f"capsules/{CAPSULE}"))  # type: ignore[attr-defined]
    assert capsule.id == CAPSULE
    assert capsule.versions
    assert DataAsset.from_dict(get(f"data_assets/{ASSET}")).state == "ready"  # type: ignore[attr-defined]
    assert Computation is not None
