"""Dry runs: drive a launch exchange for real up to its first mutating request.

Read-only lookups (pipeline, storage, project ids) are sent, so the request shown is
the one that would be sent; the launch itself never is.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import httpx

from runhub.backend import Operation, is_read_only
from runhub.policy import Redactor
from runhub.transport import SyncDriver


@dataclass
class DryRun:
    """What a launch would do: the read-only lookups performed for real, and the
    first mutating request, which was *not* sent."""

    lookups: list[httpx.Request]
    request: httpx.Request | None
    #: For backends without HTTP: a description of what would be executed.
    description: Any = None

    def render(self, redact: Redactor | None = None) -> str:
        """The request as text (method, URL, headers, body), secrets masked."""
        from runhub.render import render_request

        if self.request is None:
            import json

            return json.dumps(self.description, indent=2, default=str)
        return render_request(self.request, redact or Redactor())


class _Stop(Exception):
    def __init__(self, request: httpx.Request) -> None:
        self.request = request


class DryRunDriver(SyncDriver):
    """Performs read-only requests for real and stops at the first mutating one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lookups: list[httpx.Request] = []

    def send(self, request: httpx.Request) -> httpx.Response:
        self.learn_secrets(request)  # the request shown must be masked too
        if not is_read_only(request):
            self._prepare(request)  # shown exactly as it would be sent
            raise _Stop(request)
        self.lookups.append(request)
        return super().send(request)

    def dry_run(self, op: Operation[Any]) -> DryRun:
        """Drive ``op`` until its first mutating request."""
        try:
            value = self.run(op)
        except _Stop as stop:
            if isinstance(op, Generator):
                op.close()
            return DryRun(self.lookups, stop.request)
        return DryRun(self.lookups, None, value)
