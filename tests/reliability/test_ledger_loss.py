"""The ledger on disk: whole in its own file after every command, backed up whole,
and a ledger that has lost what it knew stops a batch instead of relaunching it.

Real ``runhub batch`` processes against the emulators over HTTP, real files in
RUNHUB_HOME; runs are counted on the emulator.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fault_scenario import template
from platforms import PLATFORMS, Platform, serve
from test_crash import KillSwitch

from runhub.ledger import Ledger

N = 6


@dataclass
class Batch:
    """One samplesheet in a folder of its own (so its own batch id), on one platform."""

    platform: Platform
    work: Path

    def home(self, name: str = "home") -> Path:
        return self.work / name

    def ledger(self, home: str = "home") -> Path:
        return self.home(home) / "ledger.sqlite"

    def start(self, *extra: str, home: str = "home") -> subprocess.Popen[str]:
        env = {**os.environ, **self.platform.env(), "RUNHUB_HOME": str(self.home(home))}
        env["RUNHUB_CONFIG"] = str(self.work / "none.toml")
        command = [sys.executable, "-m", "runhub.cli", "batch", "tpl.yaml", "sheet.csv"]
        return subprocess.Popen(
            [*command, "-o", "json", "-j", "1", *extra],
            cwd=self.work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *extra: str, home: str = "home") -> tuple[int, list[str | None], str]:
        """Run the batch: exit code, each row's ref, stderr."""
        proc = self.start(*extra, home=home)
        out, err = proc.communicate(timeout=120)
        runs = json.loads(out)["runs"] if out.strip() else []
        return proc.returncode, [r["ref"] for r in runs], err

    def created(self) -> int:
        return len(self.platform.created_ids())


@pytest.fixture(scope="module")
def platforms() -> Iterator[dict[str, Platform]]:
    with serve("ica", speed=50.0) as ica, serve("codeocean", speed=50.0) as co:
        yield {"ica": ica, "codeocean": co}


#: Each batch's rows are numbered apart from every other's (one emulator serves the
#: module): on Code Ocean a lost answer is found by what the run was asked to do.
_FIRST_ROW = iter(range(1000, 10**6, 100))


@pytest.fixture
def make_batch(platforms: dict[str, Platform], tmp_path: Path) -> Any:
    def make(name: str) -> Batch:
        work = tmp_path / name
        work.mkdir()
        (work / "tpl.yaml").write_text(template(name))
        first = next(_FIRST_ROW)
        rows = "".join(f"{first + i},fast\n" for i in range(N))
        (work / "sheet.csv").write_text("row,mode\n" + rows)
        return Batch(platforms[name], work)

    return make


def one_error_line(err: str, *phrases: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("runhub: error:")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])
    return lines[0]


@pytest.mark.parametrize("name", PLATFORMS)
def test_after_a_batch_the_ledger_file_alone_holds_every_row(make_batch: Any, name: str) -> None:
    """``runhub batch`` (which freezes the collector) checkpoints the ledger when it
    ends: copying ledger.sqlite alone, the file the docs name, loses nothing."""
    batch = make_batch(name)
    code, refs, err = batch.run()
    assert code == 0, err
    wal = batch.ledger().with_name("ledger.sqlite-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    batch.home("copy").mkdir()
    shutil.copyfile(batch.ledger(), batch.ledger("copy"))
    before = batch.created()
    again, refs_again, err = batch.run(home="copy")
    assert again == 0, err
    assert batch.created() == before  # nothing launched again
    assert refs_again == refs


def test_a_backup_restored_launches_nothing_again(make_batch: Any, tmp_path: Path) -> None:
    batch = make_batch("codeocean")
    code, refs, err = batch.run()
    assert code == 0, err
    env = {**os.environ, "RUNHUB_HOME": str(batch.home())}
    saved = tmp_path / "saved.sqlite"
    done = subprocess.run(
        [sys.executable, "-m", "runhub.cli", "ledger", "backup", str(saved)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert f"backed up {N} launches" in done.stdout
    assert not saved.with_name("saved.sqlite-wal").exists()
    shutil.rmtree(batch.home())  # the home is lost; the backup comes back
    batch.home().mkdir()
    shutil.copyfile(saved, batch.ledger())
    before = batch.created()
    again, refs_again, err = batch.run()
    assert again == 0, err
    assert batch.created() == before
    assert refs_again == refs


@pytest.mark.parametrize("name", PLATFORMS)
def test_a_truncated_ledger_stops_the_batch(make_batch: Any, name: str) -> None:
    batch = make_batch(name)
    code, _, err = batch.run()
    assert code == 0, err
    batch.ledger().write_bytes(b"")  # truncated to 0 bytes; its mark is still there
    before = batch.created()
    again, _, err = batch.run()
    assert again == 2
    one_error_line(err, str(batch.ledger()), "has lost launches", "Restore")
    assert batch.created() == before


@pytest.mark.parametrize("name", PLATFORMS)
def test_a_ledger_cut_from_half_its_wal_never_launches_a_row_twice(
    make_batch: Any, name: str
) -> None:
    """SIGKILLed mid-batch (its -wal file holds the recent launches), then the -wal
    file cut in half, as a copy taken while runhub ran would be: the re-run stops
    (the ledger lost sends it had recorded), and it launched nothing twice."""
    batch = make_batch(name)
    switch = KillSwitch(batch.platform)
    batch.platform.server.app = switch
    try:
        proc = batch.start("--no-creation-batch")  # one create per run: killed after 4
        switch.arm(proc.pid, kill_at=4)
        proc.communicate(timeout=120)
        switch.disarm()
    finally:
        batch.platform.server.app = switch.app
    assert proc.returncode == -signal.SIGKILL
    wal = batch.ledger().with_name("ledger.sqlite-wal")
    size = wal.stat().st_size
    assert size > 0
    with wal.open("r+b") as cut:
        cut.truncate(size // 2)
    before = batch.created()
    again, _, err = batch.run()
    assert again == 2, err
    one_error_line(err, str(batch.ledger()), "has lost launches")
    assert batch.created() == before


def test_on_ica_a_lost_ledger_is_noticed_and_adopt_takes_the_runs(make_batch: Any) -> None:
    """The whole RUNHUB_HOME is gone (no mark either): ICA still knows the batch by
    its tag, and each run by its launch key."""
    batch = make_batch("ica")
    code, refs, err = batch.run()
    assert code == 0, err
    shutil.rmtree(batch.home())
    before = batch.created()
    again, _, err = batch.run()
    assert again == 2
    one_error_line(err, f"ica holds {N} runs of this batch", "--adopt")
    assert batch.created() == before
    adopted, refs_adopted, err = batch.run("--adopt")
    assert adopted == 0, err
    assert batch.created() == before
    assert sorted(refs_adopted, key=str) == sorted(refs, key=str)
    rows = Ledger(batch.ledger()).runs(limit=None)
    assert sorted(r.ref or "" for r in rows) == sorted(r or "" for r in refs)


def runhub_cli(batch: Batch, *args: str, env: dict[str, str] | None = None) -> Any:
    """Another runhub command in the batch's folder and home."""
    base = {**os.environ, **batch.platform.env(), "RUNHUB_HOME": str(batch.home())}
    base["RUNHUB_CONFIG"] = str(batch.work / "none.toml")
    return subprocess.run(
        [sys.executable, "-m", "runhub.cli", *args],
        cwd=batch.work,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("name", PLATFORMS)
def test_pruning_a_finished_batch_never_launches_its_rows_again(make_batch: Any, name: str) -> None:
    batch = make_batch(name)
    code, refs, err = batch.run("--wait", "--poll", "0.05")
    assert code == 0, err
    with Ledger(batch.ledger()) as ledger:  # finished an hour ago
        ledger._db().execute("UPDATE launches SET updated_at = updated_at - 3600")
    pruned = runhub_cli(batch, "runs", "--prune", "--older-than", "30m")
    assert f"removed {N} finished runs" in pruned.stdout, pruned.stderr
    assert runhub_cli(batch, "runs", "-o", "json").stdout.strip() == "[]"
    before = batch.created()
    again, refs_again, err = batch.run()
    assert again == 0, err
    assert batch.created() == before  # 0 runs launched again
    assert refs_again == refs
    shown = json.loads(runhub_cli(batch, "runs", "-o", "json").stdout)
    assert sorted(r["ref"] for r in shown) == sorted(r or "" for r in refs)


def test_refused_launches_are_error_rows_and_unsent_ones_leave_none(make_batch: Any) -> None:
    batch = make_batch("codeocean")
    unknown = "backend: codeocean\npipeline: 00000000-0000-4000-8000-000000000000\nname: x\n"
    (batch.work / "missing.yaml").write_text(unknown)
    no_token = runhub_cli(batch, "launch", "missing.yaml", env={"CODEOCEAN_API_TOKEN": ""})
    assert no_token.returncode == 2, no_token.stderr  # a settings error: nothing sent
    assert runhub_cli(batch, "runs", "-o", "json").stdout.strip() == "[]"
    refused = runhub_cli(batch, "launch", "missing.yaml")
    assert refused.returncode == 4, refused.stderr  # the platform: no such capsule
    errors = json.loads(runhub_cli(batch, "runs", "-s", "error", "-o", "json").stdout)
    assert [(e["ref"], e["name"]) for e in errors] == [(None, "x")]
    assert "not found" in errors[0]["error"]
    assert json.loads(runhub_cli(batch, "runs", "-s", "SUCCEEDED", "-o", "json").stdout) == []
    with Ledger(batch.ledger()) as ledger:
        ledger._db().execute("UPDATE launches SET updated_at = updated_at - 3600")
    pruned = runhub_cli(batch, "runs", "--prune", "--older-than", "30m")
    assert "removed 1 finished run or refused launch" in pruned.stdout, pruned.stderr
    assert runhub_cli(batch, "runs", "-o", "json").stdout.strip() == "[]"
