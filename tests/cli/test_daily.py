"""Everyday commands: runs (filters, prune, JSON), validate, config show precedence,
-S settings, completion, cancel of many runs, yaml output, --version."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from runhub_codeocean.emulator import DEFAULT_TOKEN, CodeOceanEmulator

from runhub.cli import cancel as cancel_command
from runhub.ledger import Ledger
from runhub.testing.emulator import Clock, EmulatorServer

LAUNCH_KEYS = {
    "ref", "name", "backend", "batch", "row", "state", "native", "error", "key",
    "created_at", "launched_at", "updated_at",
}  # fmt: skip


def test_version_is_answered_without_click(cli: Any) -> None:
    done = cli("--version")
    assert (done.code, done.out) == (0, "runhub 0.1.0\n")


def test_runs_lists_filters_and_prunes(cli: Any, ok_spec: Path, home: Path) -> None:
    ref = cli("launch", str(ok_spec), "--name", "first").out.strip()
    assert cli("wait", ref).code == 0
    listed = cli("runs", "-o", "json").json()
    assert [set(r) for r in listed] == [LAUNCH_KEYS]
    assert (listed[0]["ref"], listed[0]["name"], listed[0]["backend"]) == (ref, "first", "local")
    assert cli("runs", "--state", "succeeded", "-q").lines == [ref]
    assert cli("runs", "--state", "FAILED", "-q").lines == []
    assert cli("runs", "--backend", "ica", "-q").lines == []
    assert cli("runs", "--since", "1h", "-q").lines == [ref]
    assert cli("runs", "--since", "2999-01-01", "-q").lines == []
    table = cli("runs")
    assert table.lines[0].split() == ["REF", "NAME", "BACKEND", "BATCH", "STATE", "LAUNCHED"]
    bad = cli("runs", "--since", "yesterday")
    bad.fails(2, "neither a duration")
    # prune: nothing is old enough yet; then it is
    assert "removed 0" in cli("runs", "--prune", "--older-than", "1d").out
    ledger = Ledger(home / "ledger.sqlite")
    db = ledger._db()
    db.execute("UPDATE launches SET updated_at = ?", (time.time() - 40 * 86400,))
    assert "removed 1 finished run" in cli("runs", "--prune").out
    assert cli("runs", "-q").lines == []


def test_yaml_output_has_the_json_shape(cli: Any, ok_spec: Path) -> None:
    import yaml

    ref = cli("launch", str(ok_spec)).out.strip()
    cli("wait", ref)
    as_json = cli("status", ref, "-o", "json").json()
    as_yaml = yaml.safe_load(cli("status", ref, "-o", "yaml").out)
    assert as_yaml == as_json


def test_validate_offline(cli: Any, ok_spec: Path, tmp_path: Path) -> None:
    done = cli("validate", str(ok_spec), "-o", "json")
    assert done.code == 0, done.err
    assert done.json() == {
        "spec": str(ok_spec),
        "backend": "local",
        "valid": True,
        "remote": False,
        "lookups": [],
    }
    broken = tmp_path / "bad.yaml"
    broken.write_text("pipeline: greet\nparamters: [x]\n")
    cli("validate", str(broken)).fails(2, "paramters")


def test_validate_remote_uses_read_only_lookups(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app = CodeOceanEmulator(clock=Clock())
    spec = Path(__file__).resolve().parents[2] / "examples" / "codeocean" / "art-ordered.yaml"
    with EmulatorServer(app) as server:
        monkeypatch.setenv("CODEOCEAN_URL", server.url)
        monkeypatch.setenv("CODEOCEAN_API_TOKEN", DEFAULT_TOKEN)
        done = cli("validate", str(spec), "--remote", "-o", "json")
    assert done.code == 0, done.err
    report = done.json()
    assert report["remote"] is True
    assert all(line.startswith("GET ") for line in report["lookups"])
    assert app.created == []
    assert DEFAULT_TOKEN not in done.out


def test_config_show_precedence_flag_env_profile(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "config.toml").write_text(
        '[default.ica]\nserver_url = "https://profile.example"\nproject_id = "from-profile"\n'
        'x_api_key = "profile-secret-9"\n'
    )
    for name in ("ICAV2_SERVER_URL", "ICAV2_X_API_KEY", "ICAV2_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ICAV2_PROJECT_ID", "from-env")
    monkeypatch.setenv("ICAV2_SERVER_URL", "https://env.example")

    def shown(*flags: str) -> dict[str, tuple[Any, str]]:
        done = cli(*flags, "config", "show", "--backend", "ica", "-o", "json")
        assert done.code == 0, done.err
        assert "profile-secret-9" not in done.out
        return {s["field"]: (s["value"], s["source"]) for s in done.json()["settings"]}

    found = shown("-S", "ica.server_url=https://flag.example")
    assert found["server_url"] == ("https://flag.example", "flag")
    assert found["project_id"] == ("from-env", "env ICAV2_PROJECT_ID")
    assert found["x_api_key"] == ("***", "profile default")
    assert found["page_size"][1] == "default"
    monkeypatch.delenv("ICAV2_PROJECT_ID")
    assert shown()["project_id"] == ("from-profile", "profile default")


def test_setting_flag_reaches_the_backend(cli: Any, ok_spec: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    ref = cli("-S", f"local.home={elsewhere}", "launch", str(ok_spec)).out.strip()
    assert (elsewhere / "runs" / ref.partition(":")[2]).is_dir()
    cli("-S", f"local.home={elsewhere}", "wait", ref)
    cli("-S", "nodot=1", "backends").fails(2, "BACKEND.FIELD=VALUE")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts(cli: Any, shell: str) -> None:
    done = cli("completion", shell)
    assert done.code == 0
    assert "_RUNHUB_COMPLETE" in done.out


def test_cancel_many_asks_once_when_destructive(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    app = CodeOceanEmulator(clock=Clock(speed=0.001))  # runs stay running
    spec = Path(__file__).resolve().parents[2] / "examples" / "codeocean" / "art-ordered.yaml"
    with EmulatorServer(app) as server:
        monkeypatch.setenv("CODEOCEAN_URL", server.url)
        monkeypatch.setenv("CODEOCEAN_API_TOKEN", DEFAULT_TOKEN)
        refs = [cli("launch", str(spec), "--name", f"r{i}").out.strip() for i in range(2)]
        cli("cancel", *refs).fails(2, "--yes")
        monkeypatch.setattr(cancel_command, "_can_prompt", lambda: True)
        declined = cli("cancel", *refs, stdin="n\n")
        assert declined.code == 1
        assert "Cancel 2 runs?" in declined.err
        assert len(app.runs) == 2
        done = cli("cancel", *refs, "-o", "json", stdin="y\n")
        assert done.code == 0, done.err
        assert len(done.json()) == 2
        assert {s["state"] for s in done.json()} <= {"CANCELLED", "CANCELLING"}


def test_wait_many_and_status_watch(cli: Any, ok_spec: Path, failing_spec: Path) -> None:
    good = cli("launch", str(ok_spec)).out.strip()
    bad = cli("launch", str(failing_spec)).out.strip()
    waited = cli("wait", good, bad, "--poll", "0.05", "-o", "json")
    assert waited.code == 1
    assert [s["state"] for s in waited.json()] == ["SUCCEEDED", "FAILED"]
    watched = cli("status", good, bad, "--watch", "--poll", "0.05", "-q")
    assert (watched.code, watched.lines) == (0, [good, bad])
    cli("wait").fails(2, "REF")


def test_profile_option_after_any_command(cli: Any, tmp_path: Path, ok_spec: Path) -> None:
    (tmp_path / "config.toml").write_text('[lab.ica]\nproject_id = "lab-project"\n')
    done = cli("config", "show", "--backend", "ica", "--profile", "lab", "-o", "json")
    assert done.code == 0, done.err
    assert done.json()["profile"] == "lab"
    fields = {s["field"]: s["value"] for s in done.json()["settings"]}
    assert fields["project_id"] == "lab-project"
    assert cli("runs", "--profile", "nosuch").code == 0  # the ledger needs no profile
    cli("validate", str(ok_spec), "--profile", "nosuch").fails(2, "profile 'nosuch' not found")
    assert cli("validate", str(ok_spec), "--profile", "lab").code == 0


def test_completion_completes_commands_and_options(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    def complete(words: str) -> list[str]:
        env = {
            **os.environ,
            "_RUNHUB_COMPLETE": "bash_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - 1),
        }
        done = subprocess.run(
            [sys.executable, "-m", "runhub.cli"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=tmp_path,
        )
        return done.stdout.split()

    assert complete("runhub ba") == ["plain,batch", "plain,backends"]
    assert "plain,--state" in complete("runhub runs --st")


def test_bare_runhub_prints_help(cli: Any) -> None:
    done = cli()
    assert done.code == 0
    assert done.out.startswith("Usage: runhub")
    assert "batch" in done.out
    assert done.err == ""


def test_refresh_skips_a_run_the_platform_lost(
    cli: Any, ok_spec: Path, slow_spec: Path, home: Path
) -> None:
    import shutil

    done = cli("launch", str(ok_spec)).out.strip()
    assert cli("wait", done).code == 0
    lost = cli("launch", str(slow_spec)).out.strip()
    assert cli("cancel", lost).code == 0
    shutil.rmtree(home / "runs" / lost.partition(":")[2])  # gone from the "platform"
    ledger = Ledger(home / "ledger.sqlite")
    ledger._db().execute("UPDATE launches SET state = 'RUNNING'")  # as if last seen running
    refreshed = cli("runs", "--refresh", "-o", "json")
    assert refreshed.code == 0
    assert f"{lost}: not refreshed" in refreshed.err
    states = {r["ref"]: r["state"] for r in refreshed.json()}
    assert states[done] == "SUCCEEDED"  # refreshed although the other run failed
    assert states[lost] == "RUNNING"  # unknown: left as last seen
