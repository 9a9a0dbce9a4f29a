"""What the emulator's parts share: media types, the Problem error, a routed call."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

V3 = "application/vnd.illumina.v3+json"
V4 = "application/vnd.illumina.v4+json"
JSON = "application/json"
PROBLEM = "application/problem+json"
ROOT = "/ica/rest"
MAX_PAGE_SIZE = 1000

CREATE_KINDS = {
    "nextflow": ((V4, V3), "NEXTFLOW"),
    "nextflowWithCustomInput": ((V4,), "NEXTFLOW"),
    "cwlWithStructuredInput": ((V4,), "CWL"),
    "cwlWithJsonInput": ((V4,), "CWL"),
}


class Problem(Exception):
    """An error answer (RFC 7807 ``Problem``)."""

    def __init__(
        self, status: int, code: str, detail: str, parameters: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.parameters = parameters or {}


@dataclass
class Call:
    """What a handler gets: the request, its path groups, its user, its JSON body."""

    request: httpx.Request
    groups: dict[str, str]
    user: str
    body: Any


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Callable[[Call], httpx.Response]
    #: Accepted request media types (None: no body).
    consumes: tuple[str, ...] | None
    #: Media types the answer can be given in (None: 204, no body).
    produces: tuple[str, ...] | None
    body_model: str | None = None
    body_required: bool = True
