"""The ICA and Code Ocean emulators served over HTTP on 127.0.0.1 for CLI tests,
with the environment a user of each platform sets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from runhub_codeocean.emulator import DEFAULT_TOKEN, CodeOceanEmulator
from runhub_ica.emulator import IcaEmulator, seed

from runhub.testing.emulator import Clock, EmulatorServer

ICA_KEY = "cli-daily-key-51c2"
CAPSULE = "3f2f5a8e-1c61-4f0b-9a55-6d1f2c7b9e01"
ASSET = "bf8cf993-a583-495c-bebd-2f38f81d1ea1"
ICA_TEMPLATE = """\
backend: ica
pipeline: dragen-germline-4-3-6
name: "germline {sample}"
mounts:
  - {source: "{fastqs}", input: "{input}"}
  - {source: /reference/hg38-alt_masked.cnv.graph.hla.rna-9-r3.0-1.tar, input: ref_tar}
parameters:
  sample_ids: ["{sample}"]
  mode: "{mode}"
"""
CO_TEMPLATE = """\
backend: codeocean
pipeline: "{capsule}"
version: 2
name: "art-{sample}"
mounts:
  - {source: "{asset}", path: Reference}
parameters: ["75", "{coverage}", "{mode}"]
"""


@dataclass
class Served:
    """One emulator behind a real HTTP server."""

    name: str
    app: Any
    server: EmulatorServer
    clock: Clock

    def created(self) -> int:
        return len(self.app.analyses) if self.name == "ica" else len(self.app.created)


@contextmanager
def serve(name: str, monkeypatch: pytest.MonkeyPatch, *, speed: float = 5000) -> Iterator[Served]:
    """Serve platform ``name`` and point the environment at it."""
    clock = Clock(speed=speed)
    app: Any = IcaEmulator(clock) if name == "ica" else CodeOceanEmulator(clock=clock)
    with EmulatorServer(app) as server:
        if name == "ica":
            monkeypatch.setenv("ICAV2_SERVER_URL", server.url)
            monkeypatch.setenv("ICAV2_X_API_KEY", ICA_KEY)
            monkeypatch.setenv("ICAV2_PROJECT_ID", seed.PROJECT_ID)
        else:
            monkeypatch.setenv("CODEOCEAN_URL", server.url)
            monkeypatch.setenv("CODEOCEAN_API_TOKEN", DEFAULT_TOKEN)
        yield Served(name, app, server, clock)


def ica_sheet(rows: int, *, bad: dict[int, dict[str, str]] | None = None) -> str:
    """A samplesheet for ICA_TEMPLATE; ``bad`` replaces cells of some rows (0-based)."""
    lines = ["sample,fastqs,input,mode"]
    for i in range(rows):
        cells = {"sample": f"S{i:03d}", "fastqs": "/fastqs/", "input": "fastqs", "mode": "fast"}
        cells.update((bad or {}).get(i, {}))
        lines.append(",".join(cells[c] for c in ("sample", "fastqs", "input", "mode")))
    return "\n".join(lines) + "\n"


def co_sheet(rows: int, *, bad: dict[int, dict[str, str]] | None = None) -> str:
    """A samplesheet for CO_TEMPLATE."""
    lines = ["sample,capsule,asset,coverage,mode"]
    for i in range(rows):
        cells = {"sample": f"S{i:03d}", "capsule": CAPSULE, "asset": ASSET}
        cells |= {"coverage": str(1 + i % 3), "mode": "HS25"}
        cells.update((bad or {}).get(i, {}))
        lines.append(",".join(cells[c] for c in ("sample", "capsule", "asset", "coverage", "mode")))
    return "\n".join(lines) + "\n"
