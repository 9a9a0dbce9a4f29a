"""Finding the run a launch created, by the ``runhub_key`` tag it was sent with.

WES takes no idempotency key (spec: RunWorkflow), so after a launch whose answer was
lost, or a crash before the ledger heard it, the only evidence is the server's list
of runs. Every launch is tagged with its key; a server echoes tags in
``RunSummary.tags`` (sapporo, the spec's RunSummary) or in ``RunLog.request.tags``
(wes-service lists bare ``{run_id, state}`` items; its run log holds the request).

The search decides one of three things:

- **found**: the run tagged with this key (never one another launch claimed);
- **absent**: every run was seen, each one's tags were read, none has the key;
- **undecided**: the listing did not end within the page budget, too many runs had
  to be opened one by one, or some run's tags could not be read. The launch is then
  reported ambiguous: nothing is sent a second time on a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from runhub.backend import Exchange, response_json
from runhub.errors import NotFound, RunhubError
from runhub_wes.listing import list_runs
from runhub_wes.states import timestamp
from runhub_wes.translate import KEY_TAG

#: Seconds of clock difference tolerated when skipping runs that started too early.
CLOCK_SKEW = 300.0


@dataclass
class Search:
    """The outcome: ``found`` (a RunLog or RunSummary body), or why it is undecided."""

    found: dict[str, Any] | None = None
    decided: bool = True
    why: list[str] = field(default_factory=list)


def _tags(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The tags a RunSummary or RunLog echoes, or None if it echoes none."""
    tags = body.get("tags")
    if isinstance(tags, Mapping):
        return tags
    request = body.get("request")
    if isinstance(request, Mapping):
        # runhub always sends tags: a request echoed without any was not ours.
        tags = request.get("tags")
        return tags if isinstance(tags, Mapping) else {}
    return None


def _too_early(item: Mapping[str, Any], since: float | None) -> bool:
    started = timestamp(item.get("start_time"))
    if since is None or started is None:
        return False
    return started < datetime.fromtimestamp(since).astimezone() - timedelta(seconds=CLOCK_SKEW)


def find_by_key(
    key: str,
    *,
    get_page: Callable[[dict[str, Any]], httpx.Request],
    get_log: Callable[[str], httpx.Request],
    page_size: int,
    claimed: Collection[str],
    since: float | None = None,
    max_pages: int = 50,
    max_logs: int = 200,
) -> Exchange[Search]:
    """Search the server's runs for the one tagged ``runhub_key=key``."""

    def has_key(items: list[dict[str, Any]]) -> bool:
        return any((_tags(i) or {}).get(KEY_TAG) == key for i in items)

    listing = yield from list_runs(get_page, page_size, max_pages=max_pages, enough=has_key)
    search = Search()
    if not listing.complete and not has_key(listing.items):
        search.decided = False
        search.why.append(f"the server's run list did not end within {listing.pages} pages")
    to_open: list[str] = []
    for item in listing:
        run_id = item["run_id"]
        if run_id in claimed:
            continue
        tags = _tags(item)
        if tags is None:
            if not _too_early(item, since):
                to_open.append(run_id)
        elif tags.get(KEY_TAG) == key:
            search.found, search.decided = item, True
            return search
    if len(to_open) > max_logs:
        search.decided = False
        search.why.append(
            f"{len(to_open)} runs list no tags, more than the {max_logs} runhub opens one by one"
        )
        return search
    unreadable = []
    for run_id in to_open:
        try:
            response = yield get_log(run_id)
            body = response_json(response)
        except NotFound:
            continue  # gone since it was listed: not ours to find
        except RunhubError as error:
            unreadable.append(f"{run_id} ({error.message[:80]})")
            continue
        tags = _tags(body) if isinstance(body, Mapping) else None
        if tags is None:
            unreadable.append(f"{run_id} (its run log echoes no tags)")
        elif tags.get(KEY_TAG) == key:
            search.found, search.decided = {**body, "run_id": run_id}, True
            return search
    if unreadable:
        search.decided = False
        shown = ", ".join(unreadable[:3]) + (" ..." if len(unreadable) > 3 else "")
        search.why.append(f"the tags of {len(unreadable)} runs could not be read: {shown}")
    return search
