"""Pre-flight for Code Ocean: the capsule or pipeline and every data asset, read-only.

A Code Ocean launch looks nothing up (it POSTs ``computations`` at once), so the
default pre-flight (drive the launch up to its first mutating request) would check
nothing. This one asks what the run needs, with GETs only:

- ``GET capsules/{id}`` or ``GET pipelines/{id}`` (SDK 0.17.0 ``Capsules.get_capsule``,
  ``Pipelines.get_pipeline``): the target exists and, when the spec pins a
  ``version``, that version was released (``Capsule.versions[].major_version``);
- ``GET data_assets/{id}`` (``DataAssets.get_data_asset``) for each mount: the
  asset exists and its ``state`` (``DataAssetState``) is ``ready``, not ``draft``
  or ``failed``.

Answers are cached per backend instance (outcomes, errors included), so a
samplesheet of 1000 rows costs one request per distinct capsule and data asset.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from runhub.backend import Exchange, response_json
from runhub.errors import NotFound, SpecError
from runhub.gather import gather
from runhub_codeocean.translate import Launch

#: Builds a request to the deployment: ``(method, path relative to /api/v1/, **kwargs)``.
Requester = Callable[..., httpx.Request]
#: A cached answer: the object the platform returned, or None when it had no such thing.
Found = dict[str, Any] | None


class Preflight:
    """Read-only checks of a launch plan, with every answer cached."""

    def __init__(self, req: Requester) -> None:
        self._req = req
        self._targets: dict[tuple[str, str], Found] = {}
        self._assets: dict[str, Found] = {}

    def clear(self) -> None:
        """Forget every answer."""
        self._targets.clear()
        self._assets.clear()

    def check(self, plan: Launch, version: int | None) -> Exchange[None]:
        """Raise what a launch of ``plan`` would run into; return None if it would start."""
        assets = [str(a["id"]) for a in plan.body.get("data_assets") or []]
        target, *found = yield from gather(
            self._target(plan.route, plan.target),
            *(self._asset(ident) for ident in assets),
        )
        if target is None:
            raise NotFound(
                f"pipeline: no {plan.kind} {plan.target} on this Code Ocean deployment",
                hint=f"check the {plan.kind} id and that the token can read it",
            )
        _check_version(plan, target, version)
        for index, (ident, asset) in enumerate(zip(assets, found, strict=True)):
            _check_asset(index, ident, asset)
        return None

    def _target(self, route: str, ident: str) -> Exchange[Found]:
        key = (route, ident)
        if key not in self._targets:
            self._targets[key] = yield from self._get(f"{route}/{ident}", f"check the {route[:-1]}")
        return self._targets[key]

    def _asset(self, ident: str) -> Exchange[Found]:
        if ident not in self._assets:
            self._assets[ident] = yield from self._get(f"data_assets/{ident}", "check a data asset")
        return self._assets[ident]

    def _get(self, path: str, purpose: str) -> Exchange[Found]:
        try:
            response = yield self._req("GET", path, purpose=purpose)
        except NotFound:
            return None
        data = response_json(response)
        return data if isinstance(data, dict) else {}


def _check_version(plan: Launch, target: dict[str, Any], version: int | None) -> None:
    versions = target.get("versions")
    if version is None or not isinstance(versions, list):
        return  # unpinned, or the deployment does not list versions: nothing to check
    released = sorted(
        v["major_version"]
        for v in versions
        if isinstance(v, dict) and isinstance(v.get("major_version"), int)
    )
    if version not in released:
        shown = ", ".join(str(v) for v in released) or "none"
        raise SpecError(
            f"{plan.kind} {plan.target} has no released version {version} (released: {shown})",
            field="version",
        )


def _check_asset(index: int, ident: str, asset: Found) -> None:
    where = f"mounts.{index}.source"
    if asset is None:
        raise NotFound(
            f"{where}: no data asset {ident} on this Code Ocean deployment",
            hint="check the data asset id and that the token can read it",
        )
    state = asset.get("state")
    if state == "failed":
        reason = asset.get("failure_reason")
        why = f": {reason}" if isinstance(reason, str) and reason else ""
        raise SpecError(f"data asset {ident} failed to build{why}", field=where)
    if state == "draft":
        raise SpecError(
            f"data asset {ident} is not ready yet (state draft)",
            field=where,
            hint="launch once the data asset is ready",
        )


__all__ = ["Preflight"]
