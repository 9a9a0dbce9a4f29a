"""The transfer progress bar as a user sees it: what is drawn, and on a real terminal.

The first test renders the bar into a terminal-like buffer and reads what it drew;
the second runs ``runhub data upload`` on a pseudo-terminal (stdout and stderr a
tty, as in a user's shell) against the ICA emulator and moto, with the upload slowed
so the bar is on screen for a while, and reads the bytes the terminal received.
"""

from __future__ import annotations

import io
import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from runhub.cli.helpers.transfers import Bars

from .conftest import Served
from .tcpfault import Relay

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\r")


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120, color_system=None), out


def test_the_bar_shows_phase_bytes_and_files() -> None:
    console, out = _terminal()
    bars = Bars(console)
    bars.begin("uploading", 2, 2_000_000)
    bars.sent(600_000)
    bars.skipped(400_000)  # found by checksum: counts toward the total too
    bars.file_done("a.fq")
    bars.close()  # stopping draws the last frame, then (transient) erases it
    drawn = ANSI.sub("", out.getvalue())
    assert "uploading" in drawn
    assert "1.0/2.0 MB" in drawn
    assert "1/2 files" in drawn


def _on_a_terminal(cmd: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run ``cmd`` with stdout and stderr on a pseudo-terminal; (exit code, bytes seen)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        cmd, env=env, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, close_fds=True
    )
    os.close(follower)
    seen = bytearray()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            seen += chunk
        elif proc.poll() is not None:
            break
    os.close(leader)
    return proc.wait(timeout=10), seen.decode(errors="replace")


def test_runhub_data_upload_draws_its_bar_on_a_terminal(
    served: Served, write: Callable[..., Path]
) -> None:
    write("big.fq", 3 << 20)
    port = int(served.bucket.endpoint_url.rsplit(":", 1)[1])
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}  # colour allowed
    env.update(served.env, TERM="xterm-256color", COLUMNS="120")
    with Relay(port, rate=4 << 20) as relay:  # ~0.75 s on screen: several redraws
        env["AWS_ENDPOINT_URL_S3"] = relay.url
        code, seen = _on_a_terminal(
            [sys.executable, "-m", "runhub.cli", "data", "upload", "big.fq", "ica:/incoming/"], env
        )
    assert code == 0, seen
    drawn = ANSI.sub("", seen)
    assert "uploading" in drawn
    assert re.search(r"\d+(\.\d+)?/3\.1 MB", drawn), drawn  # bytes done of the total
    assert "0/1 files" in drawn
    assert "1 uploaded; 3.0 MiB sent" in drawn  # the summary follows the bar
