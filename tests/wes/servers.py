"""Real WES servers on 127.0.0.1 for the tests: wes-service and sapporo, without Docker.

- **wes-service** (common-workflow-language/workflow-service) runs each workflow with
  ``cwltool --no-container`` (``--opt runner=... --opt extra=--no-container``).
- **sapporo** (sapporo-wes/sapporo-service) runs workflows through a ``run.sh``; the
  bundled one wraps every engine in ``docker run``. The tests generate a local one
  from the installed copy, replacing only ``run_cwltool`` (cwltool on this machine)
  and ``generate_ro_crate`` (it calls MultiQC in Docker): the rest of sapporo's
  run-directory protocol (states, cancel, outputs) is the installed version's own.

Both are installed by the ``test`` extra (pyproject.toml). A server that is not
installed is a skip with the reason; one that is installed but does not start is a
failure under CI (``CI=true``) and a skip elsewhere, with its log in the reason.
Each server runs in its own process group, so stopping it stops the workflows it
started.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0


@dataclass
class WesServer:
    """One running server: ``url`` is its WES base URL."""

    kind: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    #: The workflow_engine runhub must name (sapporo requires one).
    engine: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def settings(self) -> dict[str, str]:
        values = {"url": self.url}
        if self.engine:
            values["engine"] = self.engine
        return values

    def env(self) -> dict[str, str]:
        """Environment variables pointing runhub's CLI at this server."""
        values = {"RUNHUB_WES_URL": self.url}
        if self.engine:
            values["RUNHUB_WES_ENGINE"] = self.engine
        return values

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        # Whatever the server started in its group (cwltool, run.sh) goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _unavailable(kind: str, reason: str) -> None:
    """Installed but not working: fail in CI, skip elsewhere, with the reason."""
    message = f"{kind} did not start: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _wait_until_up(server: WesServer) -> WesServer:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-600:]
            _unavailable(server.kind, f"exited with {server.process.returncode}: {tail}")
        try:
            if httpx.get(f"{server.url}/service-info", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.stop()
    _unavailable(server.kind, f"no answer within {START_TIMEOUT:g} s")
    raise AssertionError("unreachable")


def _start(kind: str, command: list[str], cwd: Path, env: dict[str, str], url: str) -> WesServer:
    log = cwd / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return WesServer(kind=kind, url=url, process=process, log=log)


def _need(*programs: Path | str) -> None:
    for program in programs:
        if isinstance(program, Path) and not program.exists():
            pytest.skip(f"{program.name} is not installed (pip install -e '.[test]')")
        if isinstance(program, str) and shutil.which(program) is None:
            pytest.skip(f"{program} is not on PATH (apt-get install {program})")


def start_wes_service(workdir: Path) -> WesServer:
    """wes-service 5.0 with its cwl_runner backend calling cwltool without containers."""
    _need(BIN / "wes-server", BIN / "cwltool")
    port = _free_port()
    (workdir / "tmp").mkdir(parents=True)
    command = [
        str(BIN / "wes-server"),
        "--port",
        str(port),
        "--opt",
        f"runner={BIN / 'cwltool'}",
        "--opt",
        "extra=--no-container",
    ]
    # wes-service stages attachments with tempfile.mkdtemp(): keep them in workdir.
    env = {"TMPDIR": str(workdir / "tmp")}
    server = _start("wes-service", command, workdir, env, f"http://127.0.0.1:{port}/ga4gh/wes/v1")
    return _wait_until_up(server)


_FUNCTION = r"^function {name}\(\) \{{\n.*?^\}}\n"
LOCAL_CWLTOOL = """function run_cwltool() {
    # runhub tests: cwltool on this machine, no containers (see tests/wes/servers.py)
    cd "${exe_dir}"
    local -a cmd_arr=(cwltool --no-container --outdir "${outputs_dir}")
    _append_engine_params cmd_arr
    cmd_arr+=("${wf_url}" "${wf_params}")
    _write_and_run cmd_arr
}
"""
NO_RO_CRATE = """function generate_ro_crate() {
    # runhub tests: the RO-Crate step runs MultiQC in Docker; nothing to describe here
    :
}
"""


def local_run_sh(bundled: str) -> str | None:
    """sapporo's run.sh with cwltool run locally; None if its shape has changed."""
    for name, body in (("run_cwltool", LOCAL_CWLTOOL), ("generate_ro_crate", NO_RO_CRATE)):
        pattern = re.compile(_FUNCTION.format(name=name), re.S | re.M)
        if not pattern.search(bundled):
            return None
        bundled = pattern.sub(body.replace("\\", "\\\\"), bundled, count=1)
    return bundled


def start_sapporo(workdir: Path) -> WesServer:
    """sapporo 2.x with a run.sh calling cwltool without Docker."""
    _need(BIN / "sapporo", BIN / "sapporo-cli", BIN / "cwltool", "jq")
    import sapporo

    bundled = Path(sapporo.__file__).with_name("run.sh").read_text()
    script = local_run_sh(bundled)
    if script is None:
        _unavailable("sapporo", "its run.sh has no run_cwltool/generate_ro_crate to replace")
    run_sh = workdir / "run_local.sh"
    run_sh.write_text(script or "")
    run_sh.chmod(0o755)
    runs = workdir / "runs"
    runs.mkdir(parents=True)
    port = _free_port()
    command = [
        str(BIN / "sapporo"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--run-dir",
        str(runs),
        "--run-sh",
        str(run_sh),
        "--cancel-grace-seconds",
        "1",
    ]
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "TMPDIR": str(workdir)}
    server = _start("sapporo", command, workdir, env, f"http://127.0.0.1:{port}")
    server.engine = "cwltool"
    return _wait_until_up(server)


def cancel_leftovers(server: WesServer) -> None:
    """Cancel the server's unfinished runs (a failed test may leave one sleeping)."""
    try:
        listing = httpx.get(f"{server.url}/runs", params={"page_size": 1000}, timeout=10).json()
    except (httpx.HTTPError, ValueError):
        return
    for item in listing.get("runs") or listing.get("workflows") or []:
        if item.get("state") in ("QUEUED", "INITIALIZING", "RUNNING", "PAUSED"):
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"{server.url}/runs/{item['run_id']}/cancel", timeout=10)


def run_ids(server: WesServer) -> list[str]:
    """Every run id the server lists (all pages)."""
    ids: list[str] = []
    token = None
    for _ in range(100):
        params: dict[str, str | int] = {"page_size": 1000}
        if token:
            params["page_token"] = token
        body = httpx.get(f"{server.url}/runs", params=params, timeout=10).json()
        ids += [item["run_id"] for item in body.get("runs") or body.get("workflows") or []]
        token = body.get("next_page_token")
        if not token:
            break
    return ids
