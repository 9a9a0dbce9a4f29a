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

#: Create operation -> (request media, answer media, pipeline language, input form the
#: pipeline must have: None where the endpoint bypasses the form). Media types as the
#: spec lists them per operation (``analysis:nextflow`` also takes and answers v3).
CREATE_KINDS: dict[str, tuple[tuple[str, ...], tuple[str, ...], str, str | None]] = {
    "nextflow": ((V4, V3), (V4, V3), "NEXTFLOW", "XML"),
    "nextflowJson": ((V4,), (V4,), "NEXTFLOW", "JSON"),
    "nextflowWithCustomInput": ((V4,), (V4,), "NEXTFLOW", None),
    "cwlWithStructuredInput": ((V4,), (V4,), "CWL", "XML"),
    "cwlJson": ((V4,), (V4,), "CWL", "JSON"),
    "cwlWithJsonInput": ((V4,), (V4,), "CWL", None),
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
    #: The media type the answer is given in (content negotiation).
    accept: str | None = None


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
