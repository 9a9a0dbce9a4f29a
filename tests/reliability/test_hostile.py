"""Hostile servers (tests/reliability/hostile.py, on 127.0.0.1) against real runhub
processes: every command ends in bounded time with one line, the documented exit
code, and nothing it should not have read.

Each case runs ``python -m runhub.cli`` in a subprocess with a time limit far above
what the bounded behaviour needs (the limit is a safety net, not an assertion: a
command that hangs fails the test instead of the suite). Limits are set small
through the documented ``RUNHUB_*`` variables, so the cases stay fast.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile import Hostile, endless, huge, plain_http, silent, trickle

ICA_PROJECT = "0d4f6a1e-6b1c-4a8e-9a51-2f3c5b7e8d90"
ICA_RUN = f"ica:{ICA_PROJECT}/7f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"
ICA_KEY = "ICAKEY-hostile-5d0c27a9e41b"
#: A safety net far above every bounded case below (the slowest needs ~5 s).
LIMIT = 60


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def one_line(self, code: int, *phrases: str) -> str:
        """Exit ``code``, one ``runhub: error:`` line (after any retry notices),
        every phrase in it, no traceback."""
        assert self.code == code, (self.code, self.err[-2000:])
        assert "Traceback" not in self.err + self.out, self.err[-2000:]
        lines = [line for line in self.err.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith("runhub: error: ")]
        assert len(errors) == 1, self.err[-2000:]
        assert lines[-1] == errors[0], self.err[-2000:]
        for phrase in phrases:
            assert phrase in errors[0], (phrase, errors[0])
        return errors[0]


def runhub(*args: str, env: Mapping[str, str], cwd: Path, memory: int | None = None) -> Ran:
    """``runhub ARGS`` in a fresh process (address space capped at ``memory`` bytes)."""

    def cap() -> None:
        if memory:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    try:
        done = subprocess.run(
            [sys.executable, "-m", "runhub.cli", *args],
            env={**os.environ, **env},
            cwd=cwd,
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=LIMIT,
            preexec_fn=cap,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"runhub {' '.join(args)} still running after {LIMIT} s: {exc.stderr!r}")
    return Ran(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """ICA settings (the URL is added per test), a private home, small limits."""
    return {
        "RUNHUB_HOME": str(tmp_path / "home"),
        "RUNHUB_CONFIG": str(tmp_path / "none.toml"),
        "ICAV2_X_API_KEY": ICA_KEY,
        "ICAV2_PROJECT_ID": ICA_PROJECT,
        "RUNHUB_READ_TIMEOUT": "1",
        "RUNHUB_REQUEST_DEADLINE": "2",
        "RUNHUB_RETRY_ATTEMPTS": "2",
        "NO_PROXY": "*",
    }


def ica_batch(tmp_path: Path, rows: int) -> tuple[str, str]:
    """A template and a samplesheet of ``rows`` rows for the ICA backend."""
    template = tmp_path / "t.yaml"
    template.write_text(
        "backend: ica\npipeline: fastqc-0-12\nname: 'sample {s}'\n"
        "mounts: [{source: /fastqs/, input: reads}]\nparameters: {sample: '{s}'}\n"
    )
    sheet = tmp_path / "s.csv"
    sheet.write_text("s\n" + "".join(f"S{i}\n" for i in range(rows)))
    return str(template), str(sheet)


# -- item 7: response size caps ---------------------------------------------------------


def test_an_endless_body_stops_at_the_cap(env: dict[str, str], tmp_path: Path) -> None:
    env["RUNHUB_MAX_RESPONSE"] = "1MiB"
    env["RUNHUB_REQUEST_DEADLINE"] = "30"
    with Hostile(endless) as server:
        env["ICAV2_SERVER_URL"] = server.url
        ran = runhub("status", ICA_RUN, env=env, cwd=tmp_path, memory=2 << 30)
    ran.one_line(4, "larger than the 1048576-byte cap", "RUNHUB_MAX_RESPONSE")


def test_a_huge_announced_body_is_refused_unread(env: dict[str, str], tmp_path: Path) -> None:
    with Hostile(huge(300 << 20)) as server:
        env["ICAV2_SERVER_URL"] = server.url
        ran = runhub("status", ICA_RUN, env=env, cwd=tmp_path, memory=2 << 30)
    ran.one_line(4, "larger than the 67108864-byte cap", "314572800 bytes announced")


# -- item 8: deadlines, errors no retry fixes, a silent platform -------------------------


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickling_server_is_cut_off_at_the_deadline(
    env: dict[str, str], tmp_path: Path, where: str
) -> None:
    env |= {"RUNHUB_REQUEST_DEADLINE": "1", "RUNHUB_RETRY_ATTEMPTS": "1"}
    with Hostile(trickle(where)) as server:
        env["ICAV2_SERVER_URL"] = server.url
        ran = runhub("status", ICA_RUN, env=env, cwd=tmp_path)
        # the async client too: the batch's first lookup trickles
        template, sheet = ica_batch(tmp_path, 2)
        batched = runhub("batch", template, sheet, env=env, cwd=tmp_path)
    ran.one_line(4, "within the 1 s deadline")
    assert batched.code == 4, batched.err
    assert "within the 1 s deadline" in batched.err
    assert "Traceback" not in batched.err


def test_a_silent_platform_stops_a_batch_after_the_silence_limit(
    env: dict[str, str], tmp_path: Path
) -> None:
    env |= {"RUNHUB_SILENCE_LIMIT": "1", "RUNHUB_RETRY_ATTEMPTS": "8"}
    template, sheet = ica_batch(tmp_path, 40)
    with Hostile(silent) as server:
        env["ICAV2_SERVER_URL"] = server.url
        ran = runhub("batch", template, sheet, "-j", "4", "-o", "json", env=env, cwd=tmp_path)
        connections = server.connections
    assert ran.code == 4, ran.err[-2000:]
    assert "Traceback" not in ran.err
    assert "has not answered for" in ran.out + ran.err
    # a bounded number of attempts, not 40 rows x 8 attempts
    assert connections <= 8, connections


@pytest.fixture
def untrusted_tls(tmp_path: Path) -> Iterator[Hostile]:
    """A TLS server with a self-signed certificate nobody trusts."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a self-signed certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def handshake_then_close(conn: object) -> None:
        sock = conn.sock  # type: ignore[attr-defined]
        with contextlib.suppress(ssl.SSLError, OSError):
            context.wrap_socket(sock, server_side=True).close()

    with Hostile(handshake_then_close, read_request=False) as server:
        yield server


def test_an_untrusted_certificate_is_not_retried(
    env: dict[str, str], tmp_path: Path, untrusted_tls: Hostile
) -> None:
    env |= {
        "RUNHUB_RETRY_ATTEMPTS": "8",
        "ICAV2_SERVER_URL": untrusted_tls.url.replace("http:", "https:"),
    }
    ran = runhub("status", ICA_RUN, env=env, cwd=tmp_path)
    ran.one_line(4, "CERTIFICATE_VERIFY_FAILED", "SSL_CERT_FILE")
    assert untrusted_tls.connections == 1
    template, sheet = ica_batch(tmp_path, 3)
    batched = runhub("batch", template, sheet, env=env, cwd=tmp_path)
    assert batched.code == 4, batched.err
    assert "CERTIFICATE_VERIFY_FAILED" in batched.err
    assert "Traceback" not in batched.err
    # each row's lookups fail at their first attempt: no retries
    assert untrusted_tls.connections <= 1 + 3, untrusted_tls.connections


@pytest.mark.parametrize("written", ["https://127.0.0.1:{port}", "127.0.0.1:{port}"])
def test_tls_to_a_plain_http_server_says_which_url_was_meant(
    env: dict[str, str], tmp_path: Path, written: str
) -> None:
    env["RUNHUB_RETRY_ATTEMPTS"] = "8"
    with Hostile(plain_http, read_request=False) as server:
        env["ICAV2_SERVER_URL"] = written.format(port=server.port)
        ran = runhub("status", ICA_RUN, env=env, cwd=tmp_path)
        connections = server.connections
    ran.one_line(4, f"did you mean http://127.0.0.1:{server.port}?")
    assert connections == 1  # not retried


# -- issue 14 item 9: a wrong URL fails fast, and says why it waits ----------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_connection_refused_fails_after_a_few_attempts_saying_so(
    env: dict[str, str], tmp_path: Path
) -> None:
    for name in ("RUNHUB_READ_TIMEOUT", "RUNHUB_REQUEST_DEADLINE", "RUNHUB_RETRY_ATTEMPTS"):
        del env[name]  # the defaults a user has
    port = _closed_port()
    env["ICAV2_SERVER_URL"] = f"http://127.0.0.1:{port}"
    ran = runhub("status", ICA_RUN, env=env, cwd=tmp_path)
    line = ran.one_line(4, "Connection refused", f"nothing listens at 127.0.0.1:{port}")
    notices = [n for n in ran.err.splitlines() if n.strip() and n != line]
    assert notices, "a retry waiting over a second is announced"
    for notice in notices:
        assert notice.startswith("runhub: retrying in "), notice
        assert notice.endswith("/8): connection refused"), notice
    # the default budget would allow 8 attempts over ~60 s; a wrong URL gets few
    logged = runhub("-v", "status", ICA_RUN, env=env, cwd=tmp_path)
    attempts = [n for n in logged.err.splitlines() if "-> ConnectError" in n]
    assert 2 <= len(attempts) <= 4, logged.err
