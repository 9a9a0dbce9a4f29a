"""Fixtures for the local backend: a runhub home in tmp_path and small pipelines."""

from __future__ import annotations

import stat
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from runhub.backend import RunRef
from runhub.client import Client
from runhub.local.backend import LocalBackend, LocalSettings
from runhub.state import RunStatus

#: Prints its arguments and environment extras as JSON into results/, then obeys
#: the --exit / --sleep / --stderr parameters, so one script covers every case.
ECHO_RUN = """\
    #!/usr/bin/env python3
    import json, os, sys, time
    from pathlib import Path
    args = sys.argv[1:]
    Path("results/nested").mkdir(parents=True, exist_ok=True)
    Path("results/args.json").write_text(json.dumps(args))
    Path("results/nested/env.json").write_text(json.dumps(
        {k: v for k, v in os.environ.items() if k.startswith(("RUNHUB_", "HELLO_"))}))
    Path("results/data.json").write_text(json.dumps(sorted(
        str(p.relative_to("data")) for p in Path("data").rglob("*"))))
    opts = dict(zip(args[::2], args[1::2]))
    if "--stderr" in opts:
        print(opts["--stderr"], file=sys.stderr)
    time.sleep(float(opts.get("--sleep", 0)))
    sys.exit(int(opts.get("--exit", 0)))
"""


def write_pipeline(folder: Path, script: str = ECHO_RUN, *, name: str = "run") -> Path:
    """A pipeline directory whose ``name`` (run or code/run) is ``script``."""
    target = folder / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(script))
    target.chmod(target.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return folder


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh runhub home (RUNHUB_HOME) for the test, and no user profile."""
    path = tmp_path / "home"
    monkeypatch.setenv("RUNHUB_HOME", str(path))
    monkeypatch.setenv("RUNHUB_CONFIG", str(tmp_path / "no-config.toml"))
    monkeypatch.delenv("RUNHUB_PROFILE", raising=False)
    for name in ("RUNHUB_LOCAL_CANCEL_GRACE", "RUNHUB_DISABLE_PLUGINS", "RUNHUB_LOAD_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    return path


@pytest.fixture
def make_pipeline() -> Callable[..., Path]:
    """``make_pipeline(folder, script=ECHO_RUN, name="run")`` -> the pipeline folder."""
    return write_pipeline


@pytest.fixture
def pipeline(tmp_path: Path) -> Path:
    return write_pipeline(tmp_path / "pipeline")


@pytest.fixture
def backend(home: Path) -> Iterator[LocalBackend]:
    made = LocalBackend(LocalSettings(home=home, cancel_grace=0.5))
    yield made
    made.close()


@pytest.fixture
def client(home: Path) -> Iterator[Client]:
    with Client(settings={"local": {"home": str(home), "cancel_grace": 0.5}}) as made:
        yield made


Waiter = Callable[[RunRef], RunStatus]


@pytest.fixture
def wait_for(backend: LocalBackend) -> Waiter:
    """Poll the backend directly until the run is terminal (30 s safety limit)."""

    def wait(ref: RunRef) -> RunStatus:
        deadline = time.monotonic() + 30
        while True:
            status = backend.status(ref)
            if status.is_terminal:
                return status
            assert time.monotonic() < deadline, f"{ref} still {status.state} after 30 s"
            time.sleep(0.02)

    return wait
