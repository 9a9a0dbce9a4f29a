"""No fragment of a secret survives redaction (issue 13 item 4).

A hostile layer of this test's own, in front of the ICA and Code Ocean emulators on
127.0.0.1, answers the run's status and every create with an error page that
quotes the request's credential just before the 160-character excerpt cut, so the
message would keep its first 8, 13 or all-but-one characters; the batch's
pre-flight lookups reach the emulator, so the launches are sent. Scanned for any
run of 8 characters of the secret, of its base64 and of its Basic form: stderr of
``status`` (sync client), stdout and stderr of ``batch -o json`` (async client),
and every byte of the ledger files (its ``error`` column).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from invoke import cli_run
from runhub_codeocean.emulator import CodeOceanEmulator
from runhub_ica.emulator import IcaEmulator

from runhub.testing.emulator import Clock, EmulatorServer

ICA_PROJECT = "0d4f6a1e-6b1c-4a8e-9a51-2f3c5b7e8d90"
RUN_ID = "7f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"
ICA_KEY = "ICAKEY-frag-29c7d0e4b1a85f63"
ICA_JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJmcmFnIn0.c2lnbmF0dXJlLWZyYWc"
CO_TOKEN = "cop_frag7f2b91d04e6a38c5"
CAPSULE = "8d1e6c2a-4b7f-4e39-a0d2-5c3b9f17e6a4"
FRAGMENT = 8


@dataclass
class Echoing:
    """Forwards to ``app``, but answers the run's status and every create with a
    422 quoting the credential so that a 160-character cut keeps ``keep`` of it."""

    app: Any
    keep: int

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        create = request.method == "POST" and (
            ("/analysis:" in path and not path.endswith(":search"))  # search only reads
            or path.endswith("/analysisCreationBatch")
            or path.endswith("/computations")
        )
        if create or RUN_ID in path:
            headers = request.headers
            credential = headers.get("x-api-key") or headers["authorization"].split(" ")[-1]
            body = "e" * (159 - self.keep) + credential + " (request rejected)"
            return httpx.Response(422, text=body)
        return self.app.handle(request)


def forms(secret: str) -> list[str]:
    """The secret as it may travel: itself, base64, and HTTP Basic (token as user)."""
    return [
        secret,
        base64.b64encode(secret.encode()).decode().rstrip("="),
        base64.b64encode(f"{secret}:".encode()).decode().rstrip("="),
    ]


def fragments(text: str, secret: str) -> list[str]:
    """Every run of FRAGMENT characters of any form of ``secret`` found in ``text``."""
    found = []
    for form in forms(secret):
        for start in range(len(form) - FRAGMENT + 1):
            piece = form[start : start + FRAGMENT]
            if piece in text:
                found.append(piece)
    return found


PLATFORMS = {
    "ica-key": (ICA_KEY, {"ICAV2_X_API_KEY": ICA_KEY}),
    "ica-jwt": (ICA_JWT, {"ICAV2_ACCESS_TOKEN": ICA_JWT}),
    "codeocean": (CO_TOKEN, {"CODEOCEAN_API_TOKEN": CO_TOKEN}),
}


def _configure(monkeypatch: pytest.MonkeyPatch, platform: str, url: str) -> str:
    for name, value in PLATFORMS[platform][1].items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RUNHUB_RETRY_ATTEMPTS", "1")
    if platform == "codeocean":
        monkeypatch.setenv("CODEOCEAN_URL", url)
        return f"codeocean:{RUN_ID}"
    monkeypatch.setenv("ICAV2_SERVER_URL", url)
    monkeypatch.setenv("ICAV2_PROJECT_ID", ICA_PROJECT)
    return f"ica:{ICA_PROJECT}/{RUN_ID}"


def _batch_files(tmp_path: Path, platform: str) -> tuple[str, str]:
    template = tmp_path / "t.yaml"
    if platform == "codeocean":
        body = f"backend: codeocean\npipeline: {CAPSULE}\nparameters: {{NumFiles: '{{s}}'}}\n"
    else:
        body = (
            "backend: ica\npipeline: fastqc-0-12\nname: 'sample {s}'\n"
            "mounts: [{source: /fastqs/, input: reads}]\n"
        )
    template.write_text(body)
    sheet = tmp_path / "s.csv"
    sheet.write_text("s\n1\n2\n")
    return str(template), str(sheet)


def _emulator(platform: str) -> Any:
    clock = Clock(speed=100)
    if platform == "codeocean":
        return CodeOceanEmulator(token=CO_TOKEN, clock=clock)
    return IcaEmulator(clock)  # any credential


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize("keep", [8, 13, -1], ids=["8-chars", "13-chars", "all-but-one"])
def test_a_secret_cut_by_the_excerpt_leaves_no_fragment(
    platform: str, keep: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = PLATFORMS[platform][0]
    wire = forms(secret)[2] + "=" if platform == "codeocean" else secret
    kept = keep if keep > 0 else len(wire) - 1
    with EmulatorServer(Echoing(_emulator(platform), kept)) as server:
        ref = _configure(monkeypatch, platform, server.url)
        status = cli_run("status", ref)
        template, sheet = _batch_files(tmp_path, platform)
        batch = cli_run("batch", template, sheet, "-o", "json")
    assert status.code == 4, status.err
    assert "e" * 20 in status.err  # the hostile answer's excerpt was shown ...
    assert batch.code == 4, batch.err
    assert "e" * 20 in batch.out
    home = tmp_path / "home"
    ledger = b"".join(p.read_bytes() for p in home.glob("ledger.sqlite*"))
    assert b"e" * 20 in ledger  # ... and stored, but no piece of the secret with it
    for where, text in [
        ("status stderr", status.err),
        ("batch -o json", batch.out + batch.err),
        ("ledger", ledger.decode("utf-8", "replace")),
    ]:
        assert fragments(text, secret) == [], where


def test_redactor_masks_every_fragment_and_base64_alignment() -> None:
    from runhub.redaction import Redactor

    redact = Redactor()
    redact.add([CO_TOKEN])
    for shift in range(3):  # Basic credentials with user names of any length
        encoded = base64.b64encode(("u" * shift + ":" + CO_TOKEN).encode()).decode()
        assert fragments(redact(f"Authorization: Basic {encoded}"), CO_TOKEN) == []
        assert "Authorization: Basic" in redact(f"Authorization: Basic {encoded}")
    text = f"before {CO_TOKEN[3:14]} middle {CO_TOKEN[-9:]} after"
    assert redact(text) == "before *** middle *** after"
    assert redact(f"short {CO_TOKEN[:7]} stays") == f"short {CO_TOKEN[:7]} stays"
    assert redact("nothing secret here at all") == "nothing secret here at all"
