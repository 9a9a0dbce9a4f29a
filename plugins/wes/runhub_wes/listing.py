"""``GET /runs`` (spec ``ListRuns``), page by page, in every dialect seen.

The spec's ``RunListResponse`` holds ``runs`` and ``next_page_token``; wes-service
and toil answer ``workflows`` instead of ``runs`` (anchors.md §1.4). An empty or
missing token ends the listing (spec: "An empty string indicates there are no more
items"; sapporo sends null). A server that repeats a token is not followed round in
a circle: the listing stops and says it is incomplete.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from runhub.backend import Exchange, response_json
from runhub.errors import PlatformError


def items_of(body: Any) -> list[dict[str, Any]]:
    """The run items of one page (``runs`` or ``workflows``); PlatformError if neither."""
    if isinstance(body, Mapping):
        for key in ("runs", "workflows"):
            items = body.get(key)
            if isinstance(items, list):
                return [
                    i for i in items if isinstance(i, dict) and isinstance(i.get("run_id"), str)
                ]
    raise PlatformError(f"GET /runs answered without a list of runs: {str(body)[:160]}")


def token_of(body: Any) -> str | None:
    token = body.get("next_page_token") if isinstance(body, Mapping) else None
    return token if isinstance(token, str) and token else None


@dataclass
class Listing:
    """Runs seen while paging; ``complete`` once the server said there are no more."""

    items: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = False
    pages: int = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.items)


def list_runs(
    get: Callable[[dict[str, Any]], httpx.Request],
    page_size: int,
    *,
    max_pages: int,
    enough: Callable[[list[dict[str, Any]]], bool] = lambda items: False,
) -> Exchange[Listing]:
    """Page through ``GET /runs`` until the end, ``max_pages`` pages, or until
    ``enough(items so far)`` says to stop. ``get(params)`` builds each request."""
    listing = Listing()
    token: str | None = None
    seen: set[str] = set()
    while listing.pages < max_pages:
        params: dict[str, Any] = {"page_size": page_size}
        if token:
            params["page_token"] = token
        response = yield get(params)
        body = response_json(response)
        listing.items += items_of(body)
        listing.pages += 1
        token = token_of(body)
        if token is None:
            listing.complete = True
            break
        if token in seen:
            break  # a server that repeats itself: stop, incomplete
        seen.add(token)
        if enough(listing.items):
            break
    return listing
