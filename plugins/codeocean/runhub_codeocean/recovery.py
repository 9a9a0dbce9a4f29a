"""Finding the run an ambiguous ``POST computations`` may have created.

Code Ocean takes no idempotency key and no name at launch, so after a dropped
connection the only evidence is the capsule's (or pipeline's) computation list:
a computation created since the attempt (minus clock-skew slack), with the same
parameters and data assets, that no earlier launch of this backend claimed.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any


def _values(params: Any) -> list[Any]:
    return [p.get("value") for p in params if isinstance(p, Mapping)]


def _named(params: Any) -> dict[Any, Any]:
    return {p.get("param_name"): p.get("value") for p in params if isinstance(p, Mapping)}


def params_match(sent: Mapping[str, Any], reported: Any) -> bool:
    """True unless the reported ``parameters`` contradict what was sent.

    Servers may fill in defaults, so ordered values need only start with ours and
    named ones need only include ours. A missing list contradicts nothing.
    """
    if not isinstance(reported, list):
        return True
    ordered = sent.get("parameters")
    if ordered and _values(reported)[: len(ordered)] != ordered:
        return False
    named = sent.get("named_parameters")
    if named:
        have = _named(reported)
        return all(have.get(p["param_name"]) == p["value"] for p in named)
    return True


def _mount(value: Any) -> Any:
    return value.strip("/") if isinstance(value, str) else value


def assets_match(sent: list[dict[str, str]], reported: Any) -> bool:
    """Same data asset ids; and the same mount wherever both sides name one."""
    if reported is None:
        return not sent
    if not isinstance(reported, list):
        return False
    have = [a for a in reported if isinstance(a, Mapping)]
    if sorted(a["id"] for a in sent) != sorted(str(a.get("id")) for a in have):
        return False
    mounts = {a.get("id"): a.get("mount") for a in have}
    return all(
        "mount" not in a
        or mounts.get(a["id"]) is None
        or _mount(mounts[a["id"]]) == _mount(a["mount"])
        for a in sent
    )


def processes_match(sent: list[dict[str, Any]], reported: Any) -> bool:
    """Each process we parameterised reports matching parameters (when reported)."""
    if not isinstance(reported, list):
        return True
    by_name = {p.get("name"): p for p in reported if isinstance(p, Mapping)}
    for process in sent:
        theirs = by_name.get(process["name"])
        if theirs is not None and not params_match(process, theirs.get("parameters")):
            return False
    return True


def matches(body: Mapping[str, Any], item: Mapping[str, Any]) -> bool:
    """Could ``item`` (a listed computation) be the run ``body`` asked for?"""
    profile = body.get("nextflow_profile")
    if profile and item.get("nextflow_profile") not in (None, profile):
        return False
    return (
        assets_match(body.get("data_assets") or [], item.get("data_assets"))
        and params_match(body, item.get("parameters"))
        and processes_match(body.get("processes") or [], item.get("processes"))
    )


def find_created(
    body: Mapping[str, Any],
    listing: Iterable[Any],
    *,
    since: float,
    claimed: Collection[str],
) -> dict[str, Any] | None:
    """The earliest unclaimed computation created at or after ``since`` matching ``body``."""
    best: dict[str, Any] | None = None
    for item in listing:
        if not isinstance(item, dict):
            continue
        ident, created = item.get("id"), item.get("created")
        if not isinstance(ident, str) or ident in claimed:
            continue
        if not isinstance(created, int | float) or created < since:
            continue
        if matches(body, item) and (best is None or created < best["created"]):
            best = item
    return best
