"""Could a listed computation be the run a launch asked for? (pure, no I/O)

Code Ocean takes no idempotency key and no name at launch, so after a lost answer
the only evidence is what a listing reports of each computation. The SDK's
``Computation`` (``codeocean/models/computation.py``, 0.17.0) carries
``data_assets: [InputDataAsset{id, mount}]`` ("data assets attached to this
computation": the capsule's own attached assets may be listed besides the ones the
launch sent), ``parameters: [Param{name, param_name, value}]`` (``name`` is the
"label/display name", ``param_name`` optional), ``processes: [PipelineProcess{name,
parameters}]`` and ``nextflow_profile``; none of it is required.

Each piece of evidence confirms what was sent, contradicts it, or cannot tell.
A computation is a :attr:`Verdict.MATCH` only when everything sent is confirmed:
data assets sent ⊆ reported; named parameters by ``param_name``, else by label
(the name itself, or the app panel's label for it), else by position; ordered
parameters by position.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Verdict(enum.Enum):
    """What a listed computation's fields say about one launch."""

    MATCH = "match"
    UNSURE = "unsure"
    MISMATCH = "mismatch"


def _combine(verdicts: Iterable[Verdict]) -> Verdict:
    seen = set(verdicts)
    if Verdict.MISMATCH in seen:
        return Verdict.MISMATCH
    return Verdict.UNSURE if Verdict.UNSURE in seen else Verdict.MATCH


def _values(items: list[Mapping[str, Any]]) -> list[Any]:
    return [p.get("value") for p in items]


def _named(
    named: list[Mapping[str, Any]], items: list[Mapping[str, Any]], labels: Mapping[str, str]
) -> Verdict:
    by_key = {
        p["param_name"]: p.get("value") for p in items if isinstance(p.get("param_name"), str)
    }
    by_label = {
        p["name"]: p.get("value")
        for p in items
        if isinstance(p.get("name"), str) and not isinstance(p.get("param_name"), str)
    }
    undecided = False
    for param in named:
        key, value = param["param_name"], param["value"]
        if key in by_key:
            have = by_key[key]
        else:
            label = next((t for t in (key, labels.get(key)) if t in by_label), None)
            if label is None:
                undecided = True
                continue
            have = by_label[label]
        if have != value:
            return Verdict.MISMATCH
    if not undecided:
        return Verdict.MATCH
    # Neither key nor label says which entry is which. The values sent, at the same
    # positions, confirm; anything else cannot tell (never a contradiction: the
    # platform may list every parameter, in its own order).
    if _values(items)[: len(named)] == [p["value"] for p in named]:
        return Verdict.MATCH
    return Verdict.UNSURE


def params_verdict(
    sent: Mapping[str, Any], reported: Any, labels: Mapping[str, str] | None = None
) -> Verdict:
    """``sent`` (a body or a process, with ``parameters``/``named_parameters``)
    against the reported ``parameters``. Ordered values need only start the
    reported list (servers may fill in defaults after them)."""
    ordered = sent.get("parameters") or []
    named = sent.get("named_parameters") or []
    if not ordered and not named:
        return Verdict.MATCH
    if not isinstance(reported, list):
        return Verdict.UNSURE
    items = [p for p in reported if isinstance(p, Mapping)]
    verdicts = []
    if ordered:
        same = _values(items)[: len(ordered)] == list(ordered)
        verdicts.append(Verdict.MATCH if same else Verdict.MISMATCH)
    if named:
        verdicts.append(_named(named, items, labels or {}))
    return _combine(verdicts)


def _mount(value: Any) -> Any:
    return value.strip("/") if isinstance(value, str) else value


def assets_verdict(sent: list[Mapping[str, Any]], reported: Any, *, mounts: bool) -> Verdict:
    """Every data asset sent is reported (more may be: capsule-attached ones), at
    the mount sent where both sides name one and ``mounts`` is set."""
    if not sent:
        return Verdict.MATCH
    if not isinstance(reported, list):
        return Verdict.UNSURE
    where: dict[str, list[Any]] = {}
    for asset in reported:
        if isinstance(asset, Mapping) and isinstance(asset.get("id"), str):
            where.setdefault(asset["id"], []).append(asset.get("mount"))
    for asset in sent:
        have = where.get(asset["id"])
        if have is None:
            return Verdict.MISMATCH
        wanted = asset.get("mount")
        elsewhere = not any(m is None or _mount(m) == _mount(wanted) for m in have)
        if mounts and wanted is not None and elsewhere:
            return Verdict.MISMATCH
    return Verdict.MATCH


def processes_verdict(sent: list[Mapping[str, Any]], reported: Any) -> Verdict:
    """Each process the launch parameterised reports those parameters."""
    wanted = [p for p in sent if p.get("parameters") or p.get("named_parameters")]
    if not wanted:
        return Verdict.MATCH
    if not isinstance(reported, list):
        return Verdict.UNSURE
    by_name = {p.get("name"): p for p in reported if isinstance(p, Mapping)}
    verdicts = []
    for process in wanted:
        theirs = by_name.get(process["name"])
        if theirs is None:
            verdicts.append(Verdict.UNSURE)
        else:
            verdicts.append(params_verdict(process, theirs.get("parameters")))
    return _combine(verdicts)


def judge(
    body: Mapping[str, Any], item: Mapping[str, Any], labels: Mapping[str, str] | None = None
) -> Verdict:
    """Could ``item`` (a listed computation) be the run ``body`` asked for?

    Mounts count for capsules only: a pipeline run mounts a data asset where the
    asset it replaces was attached, not where the request said (Code Ocean docs,
    Run Pipeline; ``AppPanelDataAsset.mount`` in the SDK).
    """
    profile = body.get("nextflow_profile")
    theirs = item.get("nextflow_profile")
    if profile and isinstance(theirs, str) and theirs != profile:
        return Verdict.MISMATCH
    return _combine(
        (
            assets_verdict(
                body.get("data_assets") or [],
                item.get("data_assets"),
                mounts="pipeline_id" not in body,
            ),
            params_verdict(body, item.get("parameters"), labels),
            processes_verdict(body.get("processes") or [], item.get("processes")),
        )
    )


@dataclass
class Candidates:
    """Unclaimed computations created in the window, by verdict (oldest first)."""

    matches: list[dict[str, Any]] = field(default_factory=list)
    unsure: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        """Every candidate's id, matches first."""
        return [str(c["id"]) for c in self.matches + self.unsure]


def sort_out(
    body: Mapping[str, Any],
    listing: Iterable[Any],
    *,
    since: float,
    claimed: Collection[str],
    labels: Mapping[str, str] | None = None,
) -> Candidates:
    """The computations of ``listing`` that may be the run ``body`` asked for:
    created at or after ``since``, not in ``claimed``, not contradicting ``body``."""
    found = Candidates()
    for item in listing:
        if not isinstance(item, dict):
            continue
        ident, created = item.get("id"), item.get("created")
        if not isinstance(ident, str) or ident in claimed:
            continue
        if not isinstance(created, int | float) or created < since:
            continue
        verdict = judge(body, item, labels)
        if verdict is Verdict.MATCH:
            found.matches.append(item)
        elif verdict is Verdict.UNSURE:
            found.unsure.append(item)
    found.matches.sort(key=lambda c: c["created"])
    found.unsure.sort(key=lambda c: c["created"])
    return found
