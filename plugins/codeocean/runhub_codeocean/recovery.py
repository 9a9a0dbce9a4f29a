"""Looking for the run an interrupted ``POST computations`` may have created.

Called after an ambiguous failure (a dropped connection, a read timeout, a 500,
502, 503 or 504 answer, a truncated body: the driver's ``AmbiguousLaunch``) and
after a crash (a ledger row attempted, never answered). Where it looks:

- ``GET capsules/{id}/computations`` or ``pipelines/{id}/computations`` (SDK
  ``Capsules.list_computations`` / ``Pipelines.list_computations``). A 404 for a
  capsule id is asked again as a pipeline: the docs' Run Capsule table calls
  ``capsule_id`` "the id of the capsule/pipeline to run".
- For a ``version`` pin, also the listing of the release capsule: a released
  version runs as a capsule of its own (SDK ``Capsule.release_capsule``, "Release
  capsule ID"; the docs give computations of release capsules ``owner:
  "release"``), read from ``GET capsules/{id}``. Which listing shows those runs
  the SDK does not say, so both are read.
- When named parameters come back as labels only (no ``param_name``): ``GET
  capsules/{id}/app_panel[?version=]``, whose ``parameters`` pair each
  ``param_name`` with its label (SDK ``AppPanelParameters``).

The outcome is the computation that matches (adopted), or None when every listing
was read and nothing in it may be the run (the launch may be sent again). Several
matches are adopted (the oldest) only when nothing tells them apart — the same
inputs, the same owner — and no identical launch of this process is still waiting
for its answer: rows identical in everything sent then pair off with their runs,
one each, and looking at them could tell a person nothing more. Anything else
raises :class:`UnsettledLaunch`: never a second POST, never NotFound.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from runhub.backend import Exchange, response_json
from runhub.errors import NotFound, RunhubError
from runhub_codeocean.errors import ID, UnsettledLaunch
from runhub_codeocean.matching import Candidates, sort_out
from runhub_codeocean.results import Requester
from runhub_codeocean.translate import Launch

PURPOSE = "look for the run an interrupted launch may have created"


def look_for_run(
    req: Requester,
    plan: Launch,
    *,
    since: float,
    claimed: Collection[str],
    cause: str | None = None,
    busy: bool = False,
) -> Exchange[dict[str, Any] | None]:
    """The computation ``plan``'s interrupted launch created, or None if it
    certainly created none; :class:`UnsettledLaunch` when the listings cannot say.
    ``busy``: an identical launch is still waiting for its answer (its run may be
    one of those listed)."""
    listing: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    route = yield from _read_listing(req, plan.route, plan.target, listing, problems)
    if route is not None and plan.body.get("version") is not None:
        release = yield from _release_capsule(req, route, plan.target, problems)
        if release is not None:
            yield from _read_listing(req, route, release, listing, problems, fallback=False)
    found = sort_out(plan.body, listing.values(), since=since, claimed=claimed)
    if found.unsure and plan.body.get("named_parameters") and route is not None:
        labels = yield from _labels(req, route, plan, problems)
        if labels:
            found = sort_out(
                plan.body, listing.values(), since=since, claimed=claimed, labels=labels
            )
    if not problems and not found.unsure:
        if not found.matches:
            return None
        if not busy and _alike(found.matches):
            return found.matches[0]
    raise _unsettled(plan, found, problems, cause, busy=busy)


#: What a computation reports of how it was launched, and by whom.
_INPUTS = ("owner", "data_assets", "parameters", "processes", "nextflow_profile")


def _alike(matches: list[dict[str, Any]]) -> bool:
    """True if nothing listed tells these computations apart."""

    def fingerprint(item: dict[str, Any]) -> str:
        fields = {k: item.get(k) for k in _INPUTS}
        if isinstance(fields["data_assets"], list):
            fields["data_assets"] = sorted(fields["data_assets"], key=repr)
        return json.dumps(fields, sort_keys=True, default=repr)

    return len({fingerprint(m) for m in matches}) == 1


def _read_listing(
    req: Requester,
    route: str,
    target: str,
    into: dict[str, dict[str, Any]],
    problems: list[str],
    *,
    fallback: bool = True,
) -> Exchange[str | None]:
    """Add ``route/target``'s computations to ``into``; the route that answered."""
    routes = [route, "pipelines"] if fallback and route == "capsules" else [route]
    for index, tried in enumerate(routes):
        path = f"{tried}/{target}/computations"
        try:
            response = yield req("GET", path, purpose=PURPOSE)
            data = response_json(response)
        except NotFound as exc:
            if index + 1 < len(routes):
                continue  # perhaps a pipeline id given as capsule_id
            problems.append(f"no listing of {target}'s computations ({exc.detail or exc})")
            return None
        except RunhubError as exc:
            problems.append(f"{path} could not be read ({exc})")
            return None
        if not isinstance(data, list):
            problems.append(f"{path} answered {type(data).__name__} instead of a list")
            return None
        for item in data:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                into.setdefault(item["id"], item)
        return tried
    return None  # pragma: no cover (the loop always returns)


def _release_capsule(
    req: Requester, route: str, target: str, problems: list[str]
) -> Exchange[str | None]:
    """The id of ``target``'s release capsule, if it has one."""
    try:
        response = yield req("GET", f"{route}/{target}", purpose=PURPOSE)
        data = response_json(response)
    except RunhubError as exc:
        problems.append(f"{route}/{target} could not be read to find its release capsule ({exc})")
        return None
    if not isinstance(data, dict):
        problems.append(f"{route}/{target} answered {type(data).__name__} instead of an object")
        return None
    release = data.get("release_capsule")
    if isinstance(release, str) and ID.fullmatch(release) and release != target:
        return release
    return None


def _labels(
    req: Requester, route: str, plan: Launch, problems: list[str]
) -> Exchange[dict[str, str]]:
    """``param_name`` -> label, from the app panel of the version launched."""
    version = plan.body.get("version")
    try:
        response = yield req(
            "GET",
            f"{route}/{plan.target}/app_panel",
            params={"version": version} if version is not None else None,
            purpose="read parameter labels to recognise an interrupted launch's run",
        )
        data = response_json(response)
    except RunhubError as exc:
        problems.append(f"the app panel of {plan.target} could not be read ({exc})")
        return {}
    params = data.get("parameters") if isinstance(data, dict) else None
    labels = {}
    for param in params if isinstance(params, list) else []:
        if isinstance(param, dict):
            key, label = param.get("param_name"), param.get("name")
            if isinstance(key, str) and isinstance(label, str):
                labels[key] = label
    return labels


def _unsettled(
    plan: Launch, found: Candidates, problems: list[str], cause: str | None, *, busy: bool
) -> UnsettledLaunch:
    ids = found.ids
    lost = cause or "the process launching it stopped before recording the answer"
    if problems:
        why = "its run could not be looked for: " + "; ".join(problems)
    elif busy and found.matches and not found.unsure:
        why = (
            "an identical launch is still waiting for its answer, so a matching"
            " computation may be that one's"
        )
    elif len(found.matches) > 1:
        why = f"{len(found.matches)} different computations created since then match what it sent"
    else:
        why = "the listing cannot tell whether a computation created since then is its run"
    message = (
        f"launch of {plan.kind} {plan.target} needs a look: its answer was lost ({lost}) and {why}"
    )
    if ids:
        message += "; candidates: " + ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else "")
    check = " ".join(f"codeocean:{i}" for i in ids[:3])
    hint = "runhub did not send it again; " + (f"check `runhub status {check}`; " if ids else "")
    hint += "running the same batch again looks for it again"
    return UnsettledLaunch(message, candidates=ids, hint=hint)
