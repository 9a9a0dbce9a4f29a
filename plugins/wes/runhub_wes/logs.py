"""A run's logs: ``RunLog.run_log`` (spec ``Log``): command, exit code, stdout, stderr.

The spec makes ``stdout``/``stderr`` URLs ("Should be available using the same
credentials used to access the WES endpoint"); wes-service and sapporo put the text
itself there. Both readings are handled: text is kept as it is, and a URL on the WES
server itself is fetched with the server's credentials. A URL elsewhere is returned
unfetched: runhub never sends the WES credentials to another host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from runhub.backend import Exchange, RunRef


@dataclass(frozen=True)
class RunLogs:
    """What the server says the workflow printed and how it ended."""

    ref: RunRef
    stdout: str | None = None
    stderr: str | None = None
    #: Where the text came from, when the server gave URLs.
    stdout_url: str | None = None
    stderr_url: str | None = None
    cmd: list[str] = field(default_factory=list)
    exit_code: int | None = None
    #: ``RunLog.task_logs_url`` (WES 1.1: the per-task logs, paged).
    task_logs_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "ref": str(self.ref),
            "stdout": self.stdout,
            "stderr": self.stderr,
            "stdout_url": self.stdout_url,
            "stderr_url": self.stderr_url,
            "cmd": self.cmd,
            "exit_code": self.exit_code,
            "task_logs_url": self.task_logs_url,
        }


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def read_logs(
    ref: RunRef,
    body: Any,
    *,
    fetch: Callable[[str], httpx.Request],
    same_origin: Callable[[str], bool],
) -> Exchange[RunLogs]:
    """The logs of the RunLog ``body``; URLs on the WES server are fetched (``fetch``)."""
    log = body.get("run_log") if isinstance(body, Mapping) else None
    log = log if isinstance(log, Mapping) else {}
    texts: dict[str, str | None] = {}
    urls: dict[str, str | None] = {}
    for stream in ("stdout", "stderr"):
        value = log.get(stream)
        texts[stream], urls[stream] = None, None
        if not isinstance(value, str) or not value:
            continue
        if not _is_url(value):
            texts[stream] = value
            continue
        urls[stream] = value
        if same_origin(value):
            response = yield fetch(value)
            texts[stream] = response.text
    cmd = log.get("cmd")
    exit_code = log.get("exit_code")
    task_logs_url = body.get("task_logs_url") if isinstance(body, Mapping) else None
    return RunLogs(
        ref=ref,
        stdout=texts["stdout"],
        stderr=texts["stderr"],
        stdout_url=urls["stdout"],
        stderr_url=urls["stderr"],
        cmd=[c for c in cmd if isinstance(c, str)] if isinstance(cmd, list) else [],
        exit_code=exit_code if isinstance(exit_code, int) else None,
        task_logs_url=task_logs_url if isinstance(task_logs_url, str) else None,
    )


__all__ = ["RunLogs", "read_logs"]
