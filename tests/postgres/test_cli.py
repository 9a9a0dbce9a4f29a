"""The CLI on a PostgreSQL ledger: chosen by RUNHUB_LEDGER or the profile, shown
with its password masked, ``ledger info`` and an idempotent ``ledger copy``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from runhub.cli import run
from runhub.ledger import Intent, Ledger
from runhub.ledger.store import Result
from runhub.testing.pgserver import PASSWORD

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def one_line_error(self, code: int) -> str:
        assert self.code == code, (self.code, self.out, self.err)
        lines = self.err.strip().splitlines()
        assert len(lines) == 1, self.err
        assert "Traceback" not in self.err
        return lines[0]


def runhub(*args: str) -> Ran:
    runner = CliRunner()
    with runner.isolation() as (out, err, _mixed):
        code = run(list(args))
    ran = Ran(code, out.getvalue().decode(), err.getvalue().decode())
    assert PASSWORD not in ran.out + ran.err
    return ran


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RUNHUB_CONFIG", str(tmp_path / "config.toml"))
    for name in ("RUNHUB_LEDGER", "RUNHUB_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def test_config_show_names_the_ledger_with_its_password_masked(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNHUB_LEDGER", pg_url)
    shown = runhub("config", "show", "-b", "local")
    assert shown.code == 0, shown.err
    assert "# ledger postgresql://runhub:***@127.0.0.1:" in shown.out
    assert "(env RUNHUB_LEDGER)" in shown.out
    data = json.loads(runhub("config", "show", "-b", "local", "-o", "json").out)
    assert data["ledger"]["source"] == "env RUNHUB_LEDGER"
    assert data["ledger"]["value"].startswith("postgresql://runhub:***@")


def test_a_profile_chooses_the_team_ledger(pg_url: str, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(f'[lab]\nledger = "{pg_url}"\n')
    info = runhub("--profile", "lab", "ledger", "info", "-o", "json")
    assert info.code == 0, info.err
    data = json.loads(info.out)
    assert (data["store"], data["source"]) == ("postgresql", "profile lab")
    assert data["schema_version"] == data["schema_known"]
    assert data["location"].startswith("postgresql://runhub:***@127.0.0.1:")
    default = json.loads(runhub("ledger", "info", "-o", "json").out)
    assert (default["store"], default["source"]) == ("sqlite", "default")


def test_a_launch_is_recorded_in_the_team_ledger(
    pg_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RUNHUB_LEDGER", pg_url)
    monkeypatch.chdir(REPO)  # the example names its pipeline relative to the repository
    launched = runhub("launch", str(REPO / "examples/hello/runspec.yaml"), "--wait")
    assert launched.code == 0, launched.err
    ref = launched.out.strip().splitlines()[0]
    assert (home / "runs").is_dir()  # where the local backend keeps its runs
    rows = Ledger(pg_url).runs()
    assert [r.ref for r in rows] == [ref]
    listed = runhub("runs", "-o", "json")
    assert [r["ref"] for r in json.loads(listed.out)] == [ref]
    info = runhub("ledger", "info")
    assert "postgresql" in info.out
    assert "1 (with a run: 1, claimed right now: 0)" in info.out


def test_ledger_copy_moves_the_history_once(
    pg_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = Ledger(home / "ledger.sqlite")
    made = mine.intents([Intent("local", f"h{i}", "b-1", f"r{i}") for i in range(3)])
    mine.store.launched(made[0].key, Result("local:a", None, "SUCCEEDED", "ok", None), 1.0)
    mine.keep_specs([(made[0].key, {"pipeline": "p"}, None)])
    mine.close()
    first = runhub("ledger", "copy", "--to", pg_url)
    assert first.code == 0, first.err
    assert "copied 3 launches, 0 tombstones and 1 specs" in first.out
    assert "(0 rows were there already)" in first.out
    again = runhub("ledger", "copy", "--to", pg_url, "-o", "json")
    assert json.loads(again.out)["copied"] == {"launches": 0, "pruned": 0, "specs": 0}
    monkeypatch.setenv("RUNHUB_LEDGER", pg_url)
    listed = json.loads(runhub("runs", "-o", "json").out)
    assert sorted(r["row"] for r in listed) == ["r0", "r1", "r2"]
    assert runhub("show", "local:a", "-o", "json").code in (0, 4)  # the ledger knows the run


def test_ledger_copy_without_a_source_or_onto_itself_is_one_line(
    pg_url: str, tmp_path: Path
) -> None:
    missing = runhub("ledger", "copy", "--to", pg_url).one_line_error(2)
    assert "no ledger at" in missing
    assert "--from" in missing
    Ledger(tmp_path / "a.sqlite").close()
    same = runhub("ledger", "copy", "--from", "a.sqlite", "--to", str(tmp_path / "a.sqlite"))
    assert "is the ledger being copied" in same.one_line_error(2)


def test_a_newer_team_ledger_is_refused_before_anything_launches(
    pg_url: str, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    Ledger(pg_url).close()
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO runhub_schema VALUES (999, 'future', '9')")
    monkeypatch.setenv("RUNHUB_LEDGER", pg_url)
    monkeypatch.chdir(REPO)
    line = runhub("launch", str(REPO / "examples/hello/runspec.yaml")).one_line_error(2)
    assert "upgrade runhub" in line
    assert not (home / "runs").exists()  # nothing was launched
