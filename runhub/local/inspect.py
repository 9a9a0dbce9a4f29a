"""``show`` and ``logs`` for local runs: read from the run directory, nothing else.

The detail comes from ``spec.json`` (the spec as launched) and ``state.json``;
the logs are ``logs/stdout.log`` and ``logs/stderr.log`` as the run writes them,
complete once the run has ended. The run's "web page" is its directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runhub.detail import LogText, RunDetail
from runhub.local import rundir as rd

if TYPE_CHECKING:
    from runhub.state import RunStatus


def detail(run: rd.RunDir, status: RunStatus) -> RunDetail:
    """The run as launched (spec.json) and as it is (state.json)."""
    recorded = rd.read_json(run.spec_file)
    spec: dict[str, Any] = recorded.get("spec", {}) if isinstance(recorded, dict) else {}
    mounts = spec.get("mounts") or []
    return RunDetail(
        status=status,
        pipeline=spec.get("pipeline"),
        parameters=spec.get("parameters"),
        inputs=[
            {"source": m.get("source"), "path": f"data/{m['path']}" if m.get("path") else None}
            for m in mounts
            if isinstance(m, dict)
        ],
        tags=spec.get("tags"),
        url=run.path.as_uri(),
        extra={"run_dir": str(run.path), "results": str(run.results)},
    )


def logs(run: rd.RunDir, status: RunStatus, stream: str) -> LogText:
    """What the run has written to ``stream`` so far."""
    path = run.logs / f"{stream}.log"
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        text = ""
    return LogText(stream, text, complete=status.is_terminal, parts=[str(path)])


__all__ = ["detail", "logs"]
