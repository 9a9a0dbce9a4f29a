"""``runhub batch --dry-run``: the group requests a batch would send (ICA creation
batches), the first in full and the others summarised. Nothing is sent: only the
read-only lookups that build them (``Backend.plan_group`` under the dry-run driver).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

    from runhub.batch import BatchPlan


def group_requests(client: Any, the_plan: BatchPlan, backend: str) -> list[httpx.Request]:
    """The requests ``launch_many`` would send in groups for the plan's rows (first
    attempts); empty if the backend launches every row on its own."""
    from runhub.dryrun import DryRunDriver
    from runhub.grouplaunch import GroupRow
    from runhub.ledger import launch_key

    chosen = client.backend(backend)
    if not chosen.capabilities.group_launch:
        return []
    groups: dict[str, list[GroupRow]] = {}
    for item in the_plan.items:
        label = chosen.group_key(item.spec)
        if label is not None:
            key = launch_key(the_plan.batch_id, item.row_key)
            groups.setdefault(label, []).append(GroupRow(key, item.spec))
    driver = DryRunDriver(client.http, chosen, client.policy, client.redact)
    found: list[httpx.Request] = []
    for rows in groups.values():
        if len(rows) > 1:
            found += driver.dry_run(chosen.plan_group(rows, batch=the_plan.batch_id)).description
    return found


def runs_in(request: httpx.Request) -> int:
    """How many runs a group request creates (the items of its JSON body's arrays)."""
    try:
        body = json.loads(request.content)
    except ValueError:
        return 0
    if not isinstance(body, dict):
        return 0
    return sum(len(v) for v in body.values() if isinstance(v, list))


def as_dict(request: httpx.Request, redact: Any, *, full: bool) -> dict[str, Any]:
    """A request for ``-o json``: method, URL, key, runs; the body if ``full``."""
    out: dict[str, Any] = {
        "method": request.method,
        "url": redact(str(request.url)),
        "idempotency_key": request.headers.get("Idempotency-Key"),
        "runs": runs_in(request),
    }
    if full:
        out["body"] = json.loads(redact(request.content.decode()))
    return out


def lines(requests: list[httpx.Request], redact: Any, total: int) -> list[str]:
    """The text a dry run prints about the group requests."""
    from runhub.render import render_request

    if not requests:
        return []
    grouped = sum(runs_in(r) for r in requests)
    out = [
        f"# {grouped} of {total} runs would be created in {len(requests)} group request"
        f"{'s' if len(requests) != 1 else ''} (not sent); the first:"
    ]
    out.append(render_request(requests[0], redact))
    for number, request in enumerate(requests[1:], start=2):
        key = request.headers.get("Idempotency-Key", "")
        out.append(
            redact(f"# request {number}: {request.method} {request.url}: {runs_in(request)} runs")
            + (f", Idempotency-Key {key}" if key else "")
        )
    if grouped < total:
        out.append(f"# the other {total - grouped} runs would be launched one by one")
    return out
