"""The emulated project and data endpoints: projects, data listing, download URLs and
the downloads themselves (served by the emulator, so ``--download`` works against it).

Listings page by cursor (``pageToken``/``pageSize``, spec: "cursor-based pagination
guarantees complete and unique results across all pages"); the documented variance
caps each page (:attr:`Variance.page_cap`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

import httpx

from runhub_ica.emulator import seed
from runhub_ica.emulator.protocol import MAX_PAGE_SIZE, Call, Problem
from runhub_ica.emulator.variance import Variance
from runhub_ica.emulator.world import DataRec, World

if TYPE_CHECKING:
    from runhub_ica.emulator.uploads import Uploads

#: Where the emulator serves file contents (outside the REST root, like S3 would).
DOWNLOAD_ROOT = "/_emulator/download/"
#: Larger files are not generated (the seeded inputs are gigabytes).
MAX_DOWNLOAD = 64 << 20
_DEFAULT_PAGE = 100


def cursor(token: str | None) -> int:
    """The offset a page token of ours stands for (400 for anything else)."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        return int(text.removeprefix("cursor:"))
    except ValueError:
        raise Problem(
            400, "ICA_EMU_VALIDATION", "pageToken is not valid", {"pageToken": token}
        ) from None


def page_size(call: Call, default: int = _DEFAULT_PAGE) -> int:
    """``pageSize`` (1..1000), 400 when it is not a number in range."""
    text = call.request.url.params.get("pageSize", str(default))
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise Problem(
            400,
            "ICA_EMU_VALIDATION",
            f"pageSize must be a number from 1 to {MAX_PAGE_SIZE}",
            {"pageSize": text},
        )
    return int(text)


def page(items: list[Any], call: Call, cap: int | None) -> tuple[list[Any], dict[str, Any]]:
    """One cursor page of ``items`` and the paging fields of the answer."""
    size = page_size(call)
    if cap is not None:
        size = min(size, cap)
    offset = cursor(call.request.url.params.get("pageToken"))
    chunk = items[offset : offset + size]
    rest = max(len(items) - offset - len(chunk), 0)
    token = base64.urlsafe_b64encode(f"cursor:{offset + size}".encode()).decode() if rest else ""
    return chunk, {"nextPageToken": token, "remainingRecords": rest}


def content(rec: DataRec, size: int) -> bytes:
    """Deterministic bytes for a file (the same every time it is downloaded)."""
    seed_bytes = hashlib.sha256(rec.id.encode()).hexdigest().encode() + b"\n"
    return (seed_bytes * (size // len(seed_bytes) + 1))[:size]


class Catalog:
    """Projects and data; mixed into the emulator."""

    world: World
    variance: Variance
    _secret: bytes
    uploads: Uploads

    def _json(self, status: int, name: str, body: Any) -> httpx.Response:
        raise NotImplementedError

    def _project(self, call: Call) -> str:
        raise NotImplementedError

    def _projects(self, call: Call) -> httpx.Response:
        params = call.request.url.params
        search = params.get("search", "").lower()
        hidden = params.get("includeHiddenProjects", "false").lower() == "true"
        stamp = self.world.stamp(0)
        base = {
            "timeCreated": stamp,
            "timeModified": stamp,
            "ownerId": seed.OWNER_ID,
            "tenantId": seed.TENANT_ID,
        }
        country = {
            "id": "c0c0c0c0-0000-4000-8000-0000000000c1",
            **base,
            "code": "US",
            "name": "United States",
            "region": "us-east-1",
        }
        region = {
            "id": seed.REGION_ID,
            **base,
            "code": "US",
            "country": country,
            "cityName": "Virginia",
        }
        matches = [
            {
                "id": ident,
                **base,
                "tenantName": seed.TENANT_NAME,
                "name": name,
                "active": True,
                "billingMode": "PROJECT",
                "region": region,
                "tags": {"technicalTags": [], "userTags": []},
            }
            for ident, name in self.world.projects.items()
            if (not search or search in name.lower()) and (hidden or ident not in self.world.hidden)
        ]
        items, paging = page(matches, call, self.variance.page_cap)
        return self._json(200, "projects", {"items": items, **paging})

    def _data(self, call: Call) -> httpx.Response:
        project = self._project(call)
        params = call.request.url.params
        paths = params.get_list("filePath")
        mode = params.get("filePathMatchMode", "STARTS_WITH_CASE_INSENSITIVE")
        if mode not in ("STARTS_WITH_CASE_INSENSITIVE", "FULL_CASE_INSENSITIVE"):
            raise Problem(
                400,
                "ICA_EMU_VALIDATION",
                f"filePathMatchMode {mode} is not valid",
                {"filePathMatchMode": "STARTS_WITH_CASE_INSENSITIVE|FULL_CASE_INSENSITIVE"},
            )
        kind = params.get("type")
        if kind not in (None, "FILE", "FOLDER"):
            raise Problem(400, "ICA_EMU_VALIDATION", f"type {kind} is not valid", {"type": kind})
        ids = set(params.get_list("id"))
        wanted = [p.lower() for p in paths]
        matches = []
        for rec in self.world.data.values():
            if rec.project != project or (ids and rec.id not in ids):
                continue
            path = rec.path.lower()
            if wanted and not any(
                path == w if mode == "FULL_CASE_INSENSITIVE" else path.startswith(w) for w in wanted
            ):
                continue
            if kind and kind != ("FOLDER" if rec.folder else "FILE"):
                continue
            if not self.uploads.keep(rec, params):  # tags, status, parent (uploads.py)
                continue
            matches.append(rec)
        chunk, paging = page(matches, call, self.variance.page_cap)
        items = [self.world.data_body(r, parent_paths=self.variance.parent_paths) for r in chunk]
        return self._json(200, "data", {"items": items, **paging})

    def _data_one(self, call: Call) -> httpx.Response:
        project = self._project(call)
        rec = self.world.data.get(call.groups["data"])
        if rec is None or rec.project != project:
            raise Problem(404, "ICA_EMU_NOT_FOUND", f"Data {call.groups['data']} not found")
        body = self.world.data_body(rec, parent_paths=self.variance.parent_paths)
        return self._json(200, "data-one", body)

    def _download_urls(self, call: Call) -> httpx.Response:
        project = self._project(call)
        body = call.body
        wanted = [("id", i) for i in body.get("dataIds") or []]
        wanted += [("path", p) for p in body.get("dataPaths") or []]
        by_path = {r.path: r for r in self.world.data.values() if r.project == project}
        origin = f"{call.request.url.scheme}://{call.request.url.netloc.decode()}"
        items = []
        for how, value in wanted:
            rec = self.world.data.get(value) if how == "id" else by_path.get(value)
            if rec is None or rec.project != project:
                raise Problem(404, "ICA_EMU_NOT_FOUND", f"Data {value} not found in project")
            if rec.folder:
                raise Problem(
                    400, "ICA_EMU_VALIDATION", f"{value} is a folder; only files have URLs"
                )
            items.append(
                {
                    "dataId": rec.id,
                    "dataUrn": f"urn:ilmn:ica:region:{seed.REGION_ID}:data:{rec.id}",
                    "dataPath": rec.path,
                    "url": self.uploads.download_url(rec)
                    or f"{origin}{DOWNLOAD_ROOT}{rec.id}?X-Amz-Signature={self._sign(rec)}",
                }
            )
        return self._json(200, "data:createDownloadUrls", {"items": items})

    def _sign(self, rec: DataRec) -> str:
        return hmac.new(self._secret, rec.id.encode(), hashlib.sha256).hexdigest()[:32]

    def download(self, request: httpx.Request) -> httpx.Response:
        """A presigned GET: the file's bytes (``Range`` honoured), 403 for a bad
        signature, 404 for unknown data. S3-like: no ICA credentials needed."""
        ident = request.url.path[len(DOWNLOAD_ROOT) :]
        rec = self.world.data.get(ident)
        if rec is None or rec.folder:
            return httpx.Response(404, text="NoSuchKey")
        signature = request.url.params.get("X-Amz-Signature", "")
        if not hmac.compare_digest(signature, self._sign(rec)):
            return httpx.Response(403, text="SignatureDoesNotMatch")
        size = rec.size or 0
        if size > MAX_DOWNLOAD:
            return httpx.Response(403, text=f"the emulator serves files up to {MAX_DOWNLOAD} bytes")
        body = self.uploads.blob(rec) or content(rec, size)  # uploaded bytes, else made up
        wanted = request.headers.get("Range", "")
        if wanted.startswith("bytes=") and wanted.endswith("-"):
            start = int(wanted[6:-1] or 0)
            if start >= size:
                return httpx.Response(416, headers={"Content-Range": f"bytes */{size}"})
            headers = {"Content-Range": f"bytes {start}-{size - 1}/{size}"}
            return httpx.Response(206, headers=headers, content=body[start:])
        headers = {"Content-Type": "application/octet-stream", "ETag": json.dumps(rec.id)}
        return httpx.Response(200, headers=headers, content=body)
