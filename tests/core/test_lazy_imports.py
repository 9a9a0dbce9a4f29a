"""``runhub --help`` and ``--version`` must start fast: no httpx, pydantic, yaml or rich.

Checked in a fresh interpreter, since this test process has imported them already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("httpx", "pydantic", "pydantic_settings", "yaml", "rich", "stamina")
#: ``--version`` alone is answered before click is imported (start-up budget).
FAST = [["--version"], ["-V"]]

PROBE = """
import contextlib, io, json, sys
from runhub.cli import run
codes = []
with contextlib.redirect_stdout(io.StringIO()):
    for argv in ARGVS:
        codes.append(run(argv))
heavy = sorted(m for m in HEAVY if m in sys.modules)
print(json.dumps({
    "codes": codes,
    "heavy": heavy,
    "cli": "runhub.cli.app" in sys.modules,
    "click": "click" in sys.modules,
}))
"""


@pytest.mark.parametrize(
    "argvs",
    [
        [["--help"]],
        [["--version"]],
        [["-V"], ["launch", "--help"], ["status", "-h"], ["backends", "--help"]],
        [["completion", "bash"], ["completion", "zsh"], ["completion", "fish"]],
        [["batch", "--help"], ["runs", "--help"], ["outputs", "-h"], ["validate", "-h"]],
    ],
    ids=["help", "version", "subcommand-help", "completion", "new-commands-help"],
)
def test_help_and_version_import_nothing_heavy(argvs: list[list[str]]) -> None:
    code = f"ARGVS = {argvs!r}\nHEAVY = {HEAVY!r}\n{PROBE}"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(done.stdout)
    assert report["codes"] == [0] * len(argvs)
    assert report["heavy"] == []
    if argvs == [["--version"]]:
        assert not report["click"], "--version alone must not import click"
    else:
        assert report["cli"], "the probe did not load the CLI's commands"


def test_local_dry_run_imports_neither_httpx_nor_rich(tmp_path: Path) -> None:
    """``launch --dry-run`` on the local backend stays light: no transport, no
    rich (httpx 0.28 would pull in rich and pygments)."""
    root = Path(__file__).resolve().parents[2]
    argv = [["launch", "--dry-run", "examples/hello/runspec.yaml"]]
    code = f"ARGVS = {argv!r}\nHEAVY = {('httpx', 'rich', 'stamina')!r}\n{PROBE}"
    env = {**os.environ, "RUNHUB_HOME": str(tmp_path), "RUNHUB_CONFIG": str(tmp_path / "x.toml")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=root,
        env=env,
    )
    report = json.loads(done.stdout)
    assert report["codes"] == [0]
    assert report["heavy"] == []


def test_console_entry_keeps_httpx_cli_out() -> None:
    """The ``runhub`` entry point stops httpx importing its own command line (click,
    rich, pygments) along with the client; httpx itself still works."""
    code = """
import json, sys
import runhub.cli
runhub.cli._skip_httpx_cli()
import httpx
request = httpx.Request("GET", "http://127.0.0.1/x")
print(json.dumps({"rich": "rich" in sys.modules, "pygments": "pygments" in sys.modules,
                  "method": request.method, "main": callable(httpx.main)}))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    report = json.loads(done.stdout)
    assert report == {"rich": False, "pygments": False, "method": "GET", "main": True}
