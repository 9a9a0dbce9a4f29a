"""Emulated data assets: results captured from a computation, and their search.

``POST data_assets`` checks the body against the SDK's ``DataAssetParams`` (restated
below, compared with the SDK field by field in the tests) and answers a
``DataAsset`` in ``draft``; it turns ``ready`` ``READY_SECONDS`` emulated seconds
later — then runs can mount it — or ``failed`` with a ``failure_reason`` when the
computation has no results there (a failed or crashed run, or a ``path`` that is not
a result folder). ``GET data_assets/{id}`` reads one, ``POST data_assets/search``
filters by the query's ``tag:``/``name:`` terms (exact phrases in quotes, case
insensitive, as the SDK documents). Only computation sources are emulated.
"""

from __future__ import annotations

import json
import re
import shlex
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from runhub_codeocean.emulator.model import Obj, check
from runhub_codeocean.emulator.seed import RESULT_FILES, DataAsset

if TYPE_CHECKING:
    from runhub_codeocean.emulator.app import CodeOceanEmulator

#: Emulated seconds a captured asset stays ``draft``.
READY_SECONDS = 3.0

COMPUTATION_SOURCE = Obj("ComputationSource", required={"id": str}, optional={"path": str})
#: ``DataAssetParams`` (SDK 0.17.0). ``source`` is checked separately: only its
#: ``computation`` member is emulated.
DATA_ASSET_PARAMS = Obj(
    "DataAssetParams",
    required={"name": str, "tags": [str], "mount": str},
    optional={"description": str, "data_asset_ids": [str]},
)
#: Fields of DataAssetParams the emulator accepts without emulating them.
UNEMULATED = ("source", "target", "custom_metadata", "results_info")
SOURCE_FIELDS = ("aws", "gcp", "computation", "cloud_workstation")
SEARCH_FIELDS = (
    "query",
    "next_token",
    "offset",
    "limit",
    "sort_field",
    "sort_order",
    "type",
    "ownership",
    "origin",
    "favorite",
    "archived",
    "filters",
)


def _error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"message": message})


@dataclass
class Asset:
    """One captured data asset."""

    id: str
    name: str
    mount: str
    tags: list[str]
    computation: str
    capsule: str
    created: int
    started: float  # emulated clock seconds
    failure: str | None = None
    description: str | None = None
    files: int = 0
    size: int = 0
    forced: dict[str, Any] = field(default_factory=dict)

    def state(self, now: float) -> str:
        if self.forced.get("state"):
            return str(self.forced["state"])
        if now - self.started < READY_SECONDS:
            return "draft"
        return "failed" if self.failure else "ready"

    def to_json(self, now: float) -> dict[str, Any]:
        state = self.state(now)
        data: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "name": self.name,
            "mount": self.mount,
            "last_used": 0,
            "owner": "emulator-user",
            "state": state,
            "type": "result",
            "tags": self.tags,
            "provenance": {"computation": self.computation, "capsule": self.capsule},
            "source_bucket": {"origin": "local"},
        }
        if self.description:
            data["description"] = self.description
        if state == "ready":
            data["files"], data["size"] = self.files, self.size
        if state == "failed":
            data["failure_reason"] = self.forced.get("failure_reason") or self.failure
        return data


class Assets:
    """Captured assets of one emulator (``CodeOceanEmulator.captured``)."""

    def __init__(self, app: CodeOceanEmulator) -> None:
        self.app = app
        self.assets: dict[str, Asset] = {}
        #: Bodies of every accepted ``POST data_assets``, in order.
        self.bodies: list[dict[str, Any]] = []

    def routes(self) -> list[tuple[str, re.Pattern[str], Any]]:
        return [
            ("POST", re.compile(r"data_assets"), self._create),
            ("POST", re.compile(r"data_assets/search"), self._search),
            ("GET", re.compile(r"data_assets/([^/]+)"), self._get),
        ]

    def _now(self) -> float:
        now: float = self.app.clock.now()
        return now

    def _ready(self) -> None:
        """Ready assets become mountable (the app's ``assets`` is what runs check)."""
        now = self._now()
        for asset in self.assets.values():
            if asset.state(now) == "ready" and asset.id not in self.app.assets:
                self.app.assets[asset.id] = DataAsset(asset.id, asset.name, asset.mount)

    def _create(self, request: httpx.Request) -> httpx.Response:
        try:
            body = json.loads(request.content or b"null")
        except ValueError:
            return _error(400, "request body is not valid JSON")
        if not isinstance(body, dict):
            return _error(400, "body: expected an object (DataAssetParams)")
        plain = {k: v for k, v in body.items() if k not in UNEMULATED}
        problem = check(plain, DATA_ASSET_PARAMS, "body")
        if problem:
            return _error(400, problem)
        source = body.get("source")
        if not isinstance(source, dict) or set(source) - set(SOURCE_FIELDS):
            return _error(400, "body.source: expected a Source (aws, gcp, computation, ...)")
        if "computation" not in source:
            return _error(400, "the emulator creates data assets from computations only")
        problem = check(source["computation"], COMPUTATION_SOURCE, "body.source.computation")
        if problem:
            return _error(400, problem)
        ident = source["computation"]["id"]
        run = self.app.runs.get(ident)
        if run is None:
            return _error(404, f"computation {ident} not found")
        now = self._now()
        state = run.forced.get("state") or run.phase(now)[0]
        if state not in ("completed", "failed"):
            return _error(400, f"computation {ident} is {state}; capture it once it has finished")
        path = source["computation"].get("path") or ""
        failure = None
        if state == "failed" or run.fate in ("fail", "crash"):
            failure = "the computation did not produce results to capture"
        elif run.results(now, path) is None:
            failure = f"no result folder {path!r} in computation {ident}"
        prefix = f"{path.strip('/')}/" if path.strip("/") else ""
        files = {p: s for p, s in RESULT_FILES.items() if p.startswith(prefix)}
        asset = Asset(
            id=str(uuid.uuid4()),
            name=body["name"],
            mount=body["mount"],
            tags=list(body["tags"]),
            computation=ident,
            capsule=run.target.id,
            created=self.app.epoch(),
            started=now,
            failure=failure,
            description=body.get("description"),
            files=len(files),
            size=sum(files.values()),
        )
        self.assets[asset.id] = asset
        self.bodies.append(body)
        return httpx.Response(200, json=asset.to_json(now))

    def _get(self, request: httpx.Request, ident: str) -> httpx.Response:
        self._ready()
        asset = self.assets.get(ident)
        if asset is not None:
            return httpx.Response(200, json=asset.to_json(self._now()))
        seeded = self.app.assets.get(ident)
        if seeded is None:
            return _error(404, f"data asset {ident} not found")
        return httpx.Response(200, json=_seeded(seeded, self.app.epoch()))

    def _search(self, request: httpx.Request) -> httpx.Response:
        self._ready()
        try:
            body = json.loads(request.content or b"{}")
        except ValueError:
            return _error(400, "request body is not valid JSON")
        if not isinstance(body, dict) or set(body) - set(SEARCH_FIELDS):
            return _error(400, "body: expected DataAssetSearchParams")
        terms = _terms(str(body.get("query") or ""))
        now = self._now()
        found = [a.to_json(now) for a in self.assets.values()]
        found += [
            _seeded(a, self.app.epoch())
            for a in self.app.assets.values()
            if a.id not in self.assets
        ]
        for name, value in terms:
            if name == "tag":
                found = [a for a in found if value in [t.lower() for t in a.get("tags") or []]]
            elif name == "name":
                found = [a for a in found if value in str(a.get("name", "")).lower()]
            else:
                found = [a for a in found if value in json.dumps(a).lower()]
        limit = int(body.get("limit") or 100)
        return httpx.Response(200, json={"has_more": len(found) > limit, "results": found[:limit]})


def _terms(query: str) -> list[tuple[str, str]]:
    """``tag:"a b" name:x free`` as [("tag", "a b"), ("name", "x"), ("", "free")]."""
    terms = []
    for word in shlex.split(query):
        name, sep, value = word.partition(":")
        terms.append((name, value.lower()) if sep else ("", word.lower()))
    return terms


def _seeded(asset: DataAsset, created: int) -> dict[str, Any]:
    return {
        "id": asset.id,
        "created": created,
        "name": asset.name,
        "mount": asset.mount,
        "last_used": 0,
        "owner": "emulator-user",
        "state": "ready",
        "type": "dataset",
        "tags": [],
    }
