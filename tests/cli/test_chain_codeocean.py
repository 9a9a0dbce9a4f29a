"""A chain of two Code Ocean steps: the first run's results reach the second as a
captured data asset (``runhub capture``), on the emulator over HTTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from emulated import ASSET, CAPSULE, serve  # type: ignore[import-not-found]

CHAIN = f"""\
backend: codeocean
steps:
  simulate:
    spec:
      pipeline: "{CAPSULE}"
      name: simulate
      mounts: [{{source: "{ASSET}", path: Reference}}]
      parameters: ["75", "1", "HS25"]
  again:
    after: [simulate]
    spec: {{pipeline: "{CAPSULE}", name: again, parameters: ["75", "2", "HS25"]}}
    inputs:
      - from: {{step: simulate, outputs: "*"}}
        mount: {{path: simulated}}
"""


def test_code_ocean_results_reach_the_next_step_as_a_captured_asset(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "chain.yaml").write_text(CHAIN)
    with serve("codeocean", monkeypatch) as served:
        done = cli("chain", "run", "chain.yaml", "--wait", "--poll-interval", "0.05", "-o", "json")
        assert done.code == 0, done.err
        assert done.json()["verdict"] == "succeeded"
        first, second = (served.app.runs[i] for i in served.app.created)
        (body,) = served.app.captured.bodies  # one capture, of the first computation
        assert body["source"]["computation"]["id"] == first.id
        (captured,) = served.app.captured.assets
        assert second.data_assets == [{"id": captured, "mount": "simulated"}]
