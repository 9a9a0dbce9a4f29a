"""Capsules, pipelines (and their release capsules), app panels and data assets by
id, and each run's ``output`` log.

Bodies follow the official SDK 0.17.0 models (``codeocean.models.capsule.Capsule``,
``codeocean.models.data_asset.DataAsset``: every required field, snake_case keys);
a test loads them with those models. ``GET computations/{id}/results/urls?path=output``
signs the run's console log, as it does the other result files; the log is the
text a run of that fate would print, and exists once the run has ended.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from runhub_codeocean.emulator.runs import Run
from runhub_codeocean.emulator.seed import DataAsset, Target

#: Where the signed ``output`` logs are served (no auth, like a pre-signed URL).
LOGS = "/emulator-logs/"
Route = tuple[str, re.Pattern[str], Callable[..., httpx.Response]]


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message})


class Catalog:
    """The read-only lookups of targets and assets, and run logs (mixed into the app)."""

    targets: dict[str, Any]
    #: Release capsule id -> the target whose released versions it runs.
    releases: dict[str, Any]
    assets: dict[str, Any]
    runs: dict[str, Run]
    clock: Any

    def epoch(self) -> int:
        raise NotImplementedError

    def _urls(self, request: httpx.Request, ident: str) -> httpx.Response:
        raise NotImplementedError

    def catalog_routes(self) -> list[Route]:
        """The routes this mixin answers; they go before the app's own."""
        return [
            ("GET", re.compile(r"(capsules|pipelines)/([^/]+)"), self._target),
            ("GET", re.compile(r"data_assets/([^/]+)"), self._asset),
            ("GET", re.compile(r"computations/([^/]+)/results/urls"), self._log_url),
        ]

    def _target(self, request: httpx.Request, route: str, ident: str) -> httpx.Response:
        target, release = self.targets.get(ident), False
        if target is None and ident in self.releases:
            target, release = self.releases[ident], True  # a release capsule
        if target is None or f"{target.kind}s" != route:
            return _error(404, f"{route[:-1]} {ident} not found")
        released = 1_700_000_000
        body = {
            "id": ident,
            "created": released,
            "name": target.name,
            "status": "release" if release or target.versions else "non_release",
            "owner": "emulator-user",
            "slug": str(int(ident[:6], 16)),
            "versions": [
                {"major_version": n, "minor_version": 0, "release_time": released + n}
                for n in range(1, target.versions + 1)
            ],
        }
        if not release:
            body["release_capsule"] = target.release  # SDK Capsule.release_capsule
        return httpx.Response(200, json=body)

    def _asset(self, request: httpx.Request, ident: str) -> httpx.Response:
        asset = self.assets.get(ident)
        if asset is None:
            return _error(404, f"data asset {ident} not found")
        return httpx.Response(
            200,
            json={
                "id": asset.id,
                "created": 1_700_000_000,
                "name": asset.name,
                "mount": asset.mount,
                "last_used": self.epoch(),
                "owner": "emulator-user",
                "state": "ready",
                "type": "dataset",
            },
        )

    def _log_url(self, request: httpx.Request, ident: str) -> httpx.Response:
        if request.url.params.get("path") != "output":
            return self._urls(request, ident)
        run = self.runs.get(ident)
        if run is None:
            return _error(404, f"computation {ident} not found")
        if run.phase(self.clock.now())[0] not in ("completed", "failed"):
            return _error(404, "no result file 'output'")
        origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        signed = f"{origin}{LOGS}{ident}?X-Signature=emulated"
        return httpx.Response(200, json={"download_url": signed, "view_url": signed + "&view=1"})

    def log_download(self, ident: str) -> httpx.Response:
        """The signed ``output`` log of a run."""
        run = self.runs.get(ident)
        if run is None:
            return httpx.Response(404, text="NoSuchKey")
        return httpx.Response(200, text=output_log(run, self.clock.now()))


def app_panel_json(target: Target, assets: dict[str, DataAsset]) -> dict[str, Any]:
    """``target``'s app panel (SDK ``AppPanel``): its parameters (label and
    ``param_name``) and its attached data assets."""
    parameters: list[dict[str, Any]] = [
        {"name": target.ordered_label(i), "type": "text"} for i in range(target.ordered)
    ]
    parameters += [
        {"name": target.label(key), "param_name": key, "type": "text"}
        for key in sorted(target.named)
    ]
    attached = [
        {"id": i, "mount": m, "name": assets[i].name, "kind": "internal", "accessible": True}
        for i, m in target.attached
    ]
    return {"general": {"title": target.name}, "parameters": parameters, "data_assets": attached}


def output_log(run: Run, now: float) -> str:
    """What a run of this fate prints."""
    state, end_status, exit_code, _ = run.phase(now)
    values = [p.get("value", "") for p in run.parameters or []]
    lines = [
        f"Running {run.target.name} ({run.target.kind} {run.target.id})",
        f"parameters: {' '.join(values) if values else '(none)'}",
    ]
    lines += [f"mounted {a['id']} at /data/{a['mount']}" for a in run.data_assets]
    if state == "failed":
        lines.append("error: the run crashed (scripted by the emulator)")
    elif end_status != "succeeded" or exit_code not in (None, 0):
        lines.append(f"error: step failed (scripted by the emulator); exit code {exit_code}")
    else:
        lines.append("done: results written to /results")
    return "\n".join(lines) + "\n"


__all__ = ["LOGS", "Catalog", "app_panel_json", "output_log"]
