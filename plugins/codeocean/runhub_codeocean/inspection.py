"""``show``, ``logs`` and ``runs --remote`` for Code Ocean (exchanges the backend delegates to).

- detail: ``GET computations/{id}`` (SDK 0.17.0 ``Computations.get_computation``,
  model ``Computation``): parameters, data assets and their mounts, processes,
  nextflow profile, end status and exit code. A computation does not name its
  capsule; the ref's polling group (``capsules/<id>``, kept by the ledger) does.
- logs: the computation's ``output`` result file, its console log (stdout and
  stderr together), read with ``GET computations/{id}/results/urls?path=output``
  (``Computations.get_result_file_urls``) and a GET of the pre-signed
  ``download_url``. The SDK does not name that file; SDK users read it so
  (``get_result_file_urls(run_id, "output")``). Results exist once a run has
  ended, so the log is read then; a run without the file has an empty log.
- list_runs: ``GET capsules/{id}/computations`` or ``GET pipelines/{id}/computations``
  (``Capsules.list_computations``; no paging in the API), newest first.

Code Ocean shows no documented web address for a computation, so ``url`` is None.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from runhub.backend import Exchange, RunRef, request, response_json
from runhub.detail import LogText, RunDetail
from runhub.errors import ConfigError, NotFound
from runhub.state import RunStatus
from runhub_codeocean.errors import ID, computation
from runhub_codeocean.states import BACKEND, to_status

Requester = Callable[..., httpx.Request]
#: The result file holding a computation's console output.
OUTPUT_LOG = "output"


def detail(req: Requester, ref: RunRef) -> Exchange[RunDetail]:
    """What Code Ocean says about one computation."""
    response = yield req("GET", f"computations/{ref.id}", purpose="run detail")
    data = computation(response)
    status = to_status(data, ref)
    route, _, target = (ref.batch or "").partition("/")
    extra: dict[str, Any] = {
        key: data[key]
        for key in ("end_status", "run_time", "has_results", "nextflow_profile", "owner_email")
        if data.get(key) is not None
    }
    if data.get("processes"):
        extra["processes"] = {
            str(p.get("name")): _parameters(p.get("parameters"))
            for p in data["processes"]
            if isinstance(p, dict)
        }
    return RunDetail(
        status=status,
        pipeline=f"{route[:-1]} {target}" if route in ("capsules", "pipelines") else None,
        parameters=_parameters(data.get("parameters")),
        inputs=[
            {"source": a.get("id"), "path": a.get("mount")}
            for a in data.get("data_assets") or []
            if isinstance(a, dict)
        ],
        extra=extra,
    )


def _parameters(items: Any) -> Any:
    """``[{name, param_name, value}]`` as a mapping when every one is named, else a list."""
    if not isinstance(items, list):
        return None
    params = [p for p in items if isinstance(p, dict)]
    if params and all(p.get("param_name") for p in params):
        return {str(p["param_name"]): p.get("value") for p in params}
    return [p.get("value") for p in params]


def logs(req: Requester, ref: RunRef) -> Exchange[LogText]:
    """The console log of a computation, once it has ended (empty before)."""
    response = yield req("GET", f"computations/{ref.id}", purpose="run status")
    status = to_status(computation(response), ref)
    if not status.is_terminal:
        return LogText("stdout", "", complete=False, parts=[])
    try:
        urls = yield req(
            "GET",
            f"computations/{ref.id}/results/urls",
            params={"path": OUTPUT_LOG},
            purpose="output log URL",
        )
    except NotFound:
        return LogText("stdout", "", complete=True, parts=[])
    data = response_json(urls)
    url = data.get("download_url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url:
        return LogText("stdout", "", complete=True, parts=[])
    body = yield request("GET", url, purpose="read the output log")
    return LogText("stdout", body.text, complete=True, parts=[OUTPUT_LOG])


def list_runs(req: Requester, target: str | None, limit: int) -> Exchange[list[RunStatus]]:
    """The computations of one capsule or pipeline, newest first."""
    if not target:
        raise ConfigError(
            "Code Ocean lists runs per capsule or pipeline",
            hint="name one with --capsule ID",
        )
    if not ID.fullmatch(target):
        raise ConfigError(f"{target!r} is not a capsule or pipeline id")
    listing: Any = None
    route = "capsules"
    for route in ("capsules", "pipelines"):
        try:
            response = yield req("GET", f"{route}/{target}/computations", purpose="list runs")
        except NotFound:
            continue
        listing = response_json(response)
        break
    if listing is None:
        raise NotFound(f"no capsule or pipeline {target} on this Code Ocean deployment")
    items = [i for i in listing if isinstance(i, dict)] if isinstance(listing, list) else []
    items.sort(key=lambda i: i.get("created") or 0, reverse=True)
    group = f"{route}/{target}"
    return [to_status(i, RunRef(BACKEND, str(i.get("id")), group)) for i in items[:limit]]


__all__ = ["OUTPUT_LOG", "detail", "list_runs", "logs"]
