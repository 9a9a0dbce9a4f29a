"""Code Ocean: a finished computation's results captured as a data asset.

Authority: the official SDK (codeocean 0.17.0). ``DataAssets.create_data_asset``
POSTs ``data_assets`` with ``DataAssetParams`` — ``name``, ``tags`` and ``mount``
required, ``source.computation`` a ``ComputationSource{id, path?}`` ("empty captures
all result files") — and answers a ``DataAsset``, usually ``state: draft``; its
docstring: it "returns confirmation of creation request validity, not success".
``get_data_asset`` reads the state until ``ready`` or ``failed`` (then
``failure_reason``); ``search_data_assets`` POSTs ``data_assets/search`` with a
``query`` ("tag:… ; quotes = exact phrase").

Idempotency: Code Ocean takes no key on that create, so runhub tags each asset
``runhub-capture-<computation id>`` and looks for it (a search by that tag, kept
only if the asset's tags hold it exactly) before creating one — also after an
ambiguous create (dropped connection, 5xx), before it could ever be sent again.
A failed asset is never adopted: capturing again makes a new one.

A local path as a mount is refused here with the two ways in: capture a run's
results, or make an S3-sourced data asset (``source.aws``) on Code Ocean.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from runhub.backend import Exchange, RunRef, response_json
from runhub.errors import AmbiguousLaunch, PlatformError, Unsupported
from runhub.spec import RunSpec
from runhub.transfer import CaptureRequest, DataAsset, is_local
from runhub_codeocean.errors import ID, check_ref

if TYPE_CHECKING:
    from runhub_codeocean.backend import CodeOceanBackend

TAG_PREFIX = "runhub-capture-"
_STATES = {"draft": "pending", "ready": "ready", "failed": "failed"}
_MOUNT_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def capture_tag(computation_id: str) -> str:
    """The tag that names the computation an asset was captured from."""
    return TAG_PREFIX + computation_id


def no_local_mounts(spec: RunSpec) -> None:
    """Unsupported for a local path as a mount, naming the ways in."""
    for index, mount in enumerate(spec.mounts):
        if is_local(mount.source):
            raise Unsupported(
                f"mounts.{index}.source: {mount.source!r} is a local path; Code Ocean mounts"
                " data assets only",
                hint="capture a run's results as one (runhub capture REF --name NAME), or"
                " create an S3-sourced data asset on Code Ocean and mount its id",
            )


def asset_of(data: Any) -> DataAsset:
    """A ``DataAsset`` answer as runhub's DataAsset (unknown states stay pending)."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str):
        raise PlatformError(
            f"Code Ocean answered with a data asset without an id: {str(data)[:120]}"
        )
    native = data.get("state")
    provenance = data.get("provenance") or {}
    tags = [str(t) for t in data.get("tags") or []]
    return DataAsset(
        id=data["id"],
        name=str(data.get("name") or ""),
        state=_STATES.get(str(native), "pending"),  # type: ignore[arg-type]
        native=native if isinstance(native, str) else None,
        mount=data.get("mount") or None,
        reason=data.get("failure_reason") or None,
        size=data.get("size") if isinstance(data.get("size"), int) else None,
        files=data.get("files") if isinstance(data.get("files"), int) else None,
        source_run=provenance.get("computation") if isinstance(provenance, dict) else None,
        tags=tuple(tags),
    )


def default_mount(name: str) -> str:
    """A mount folder from an asset name (``sample A/results`` -> ``sample_A_results``)."""
    return _MOUNT_BAD.sub("_", name).strip("._") or "data"


class CodeOceanCaptures:
    """The ``codeocean`` backend's :class:`~runhub.transfer.Captures` (exchanges)."""

    def __init__(self, backend: CodeOceanBackend) -> None:
        self.backend = backend

    def capture(self, ref: RunRef, request: CaptureRequest) -> Exchange[DataAsset]:
        """The asset an earlier capture of ``ref`` made, else a new one."""
        check_ref(ref)
        found = yield from self._find(ref.id)
        if found is not None:
            return found
        tag = capture_tag(ref.id)
        source: dict[str, Any] = {"id": ref.id}
        if request.path:
            source["path"] = request.path
        body: dict[str, Any] = {
            "name": request.name,
            "tags": [*request.tags, tag],
            "mount": request.mount or default_mount(request.name),
            "source": {"computation": source},
        }
        if request.description:
            body["description"] = request.description
        try:
            resp = yield self.backend._req(
                "POST", "data_assets", json_body=body, purpose="capture results"
            )
        except AmbiguousLaunch:
            found = yield from self._find(ref.id)
            if found is not None:
                return found
            raise
        return asset_of(response_json(resp))

    def _find(self, computation_id: str) -> Exchange[DataAsset | None]:
        tag = capture_tag(computation_id)
        resp = yield self.backend._req(
            "POST",
            "data_assets/search",
            json_body={"query": f'tag:"{tag}"', "limit": 100},
            read_only=True,
            purpose="find an earlier capture",
        )
        data = response_json(resp)
        results = data.get("results") if isinstance(data, dict) else None
        for item in results or []:
            asset = asset_of(item)
            if tag in asset.tags and asset.state != "failed":
                return asset
        return None

    def asset(self, asset_id: str) -> Exchange[DataAsset]:
        """``GET data_assets/{id}``."""
        if not ID.fullmatch(asset_id):
            raise PlatformError(f"{asset_id!r} is not a Code Ocean data asset id")
        resp = yield self.backend._req("GET", f"data_assets/{asset_id}", purpose="data asset state")
        return asset_of(response_json(resp))
