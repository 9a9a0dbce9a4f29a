"""The emulated ``analysisCreationBatch`` endpoints (spec: ``createAnalysisCreationBatch``,
``getAnalysisCreationBatch``, ``getAnalysisCreationBatchItems``, ``getAnalysisCreationBatchItem``).

- The request (v3 only) is checked against libica's ``CreateAnalysisCreationBatch``
  (by the app), and each item as its single create's body would be: a body that
  breaks the schema refuses the whole request (400). Idempotency-Key replay, 409
  and 422 are the app's, as for every keyed create.
- The batch's job moves INITIALIZED -> RUNNING -> SUCCEEDED / PARTIALLY_SUCCEEDED /
  FAILED in emulated time. Item ``i`` is processed ``delay + i * per_item`` seconds
  after acceptance: it gets its ``createdAnalysis``, or FAILED with the reason a
  single create would have been refused for (``additionalStatusInformation``).
  Items are processed whenever any request comes in, read or not, as ICA does in
  the background.
- Items are listed with cursor paging (``pageToken`` / ``nextPageToken``).
- ``max_items`` (None: no limit, as the spec states none) answers 413 to a larger
  batch; ``drop_answers`` / ``drop_rate`` drop the connection after a batch was
  accepted and its answer stored (the fault a client must survive).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from runhub_ica.emulator import schema, seed
from runhub_ica.emulator.catalog import page
from runhub_ica.emulator.protocol import V3, V4, Call, Problem, Route

if TYPE_CHECKING:
    from runhub_ica.emulator.app import IcaEmulator
    from runhub_ica.emulator.world import AnalysisRec

#: Item array -> the single create whose body its items are.
ARRAYS = {
    "nextflowItems": "nextflow",
    "nextflowJsonItems": "nextflowJson",
    "cwlItems": "cwl",
}
#: The single-create schema each array's items follow (libica models).
ITEM_MODELS = {
    "nextflowItems": "analysis:nextflow",
    "nextflowJsonItems": "analysis:nextflowJson",
}


@dataclass
class BatchItem:
    id: str
    kind: str
    body: dict[str, Any]
    due: float
    status: str = "WAITING_RESOURCES"
    info: str | None = None
    analysis: AnalysisRec | None = None


@dataclass
class CreationBatch:
    id: str
    project: str
    accepted: float
    items: list[BatchItem] = field(default_factory=list)
    finished: float | None = None


class CreationBatches:
    """The batches of one emulator."""

    def __init__(self, emulator: IcaEmulator) -> None:
        self.emu = emulator
        #: Emulated seconds from acceptance to the first item's analysis.
        self.delay = 1.0
        #: Emulated seconds between items.
        self.per_item = 0.002
        self.max_items: int | None = None
        #: Drop the next N accepted batches' answers; and a share of the rest.
        self.drop_answers = 0
        self.drop_rate = 0.0
        #: Items with these userReferences refuse the whole request (400), as ICA may
        #: refuse a batch for one item: the spec does not say which checks are made
        #: when the request comes in and which when the item is processed.
        self.refuse_references: set[str] = set()
        self.batches: dict[str, CreationBatch] = {}
        self._pending: list[CreationBatch] = []
        self._random = random.Random(7)

    def routes(self, route: Callable[..., Route], p: str) -> list[Route]:
        b = p + r"/analysisCreationBatch"
        one = b + r"/(?P<batch>[^/]+)"
        return [
            route("POST", b, self.create, (V3,), (V3,), "analysisCreationBatch"),
            route("GET", one, self._batch, None, (V3,)),
            route("GET", one + r"/items", self._items, None, (V4, V3)),
            route("GET", one + r"/items/(?P<item>[^/]+)", self._item, None, (V4, V3)),
        ]

    def should_drop(self) -> bool:
        """True if this accepted batch's answer is to be lost on the way."""
        if self.drop_answers > 0:
            self.drop_answers -= 1
            return True
        return bool(self.drop_rate) and self._random.random() < self.drop_rate

    # -- create ----------------------------------------------------------------------

    def create(self, call: Call) -> httpx.Response:
        project = self.emu._project(call)
        body = call.body
        entries = [(a, item) for a in ARRAYS for item in body.get(a) or []]
        if not entries:
            raise Problem(400, "ICA_EMU_VALIDATION", "A creation batch needs at least one item")
        if self.max_items is not None and len(entries) > self.max_items:
            raise Problem(
                413,
                "ICA_EMU_BATCH_TOO_LARGE",
                f"A creation batch takes at most {self.max_items} items, not {len(entries)}",
            )
        for index, (array, item) in enumerate(entries):
            found = schema.problems(schema.REQUESTS[_model(array, item)], item)
            if item.get("userReference") in self.refuse_references:
                found = {"userReference": "refused by the emulator for this batch"}
            if found:
                where, what = next(iter(found.items()))
                raise Problem(
                    400,
                    "ICA_EMU_VALIDATION",
                    f"{array} item {index}: {where}: {what}",
                    {f"{array}.{where}": what},
                )
        now = self.emu.clock.now()
        batch = CreationBatch(str(uuid.uuid4()), project, now)
        for index, (array, item) in enumerate(entries):
            batch.items.append(
                BatchItem(
                    str(uuid.uuid4()),
                    _kind(array, item),
                    item,
                    now + self.delay + index * self.per_item,
                )
            )
        self.batches[batch.id] = batch
        self._pending.append(batch)
        return self.emu._json(201, "analysisCreationBatch", self._body(batch))

    # -- progress --------------------------------------------------------------------

    def advance(self) -> None:
        """Process every item that is due (called on every request)."""
        if not self._pending:
            return
        now = self.emu.clock.now()
        for batch in list(self._pending):
            for item in batch.items:
                if item.status in ("SUCCEEDED", "FAILED"):
                    continue
                if item.due > now:
                    if now >= batch.accepted + self.delay / 2:
                        item.status = "RUNNING"
                    continue
                self._process(batch, item)
            if all(i.status in ("SUCCEEDED", "FAILED") for i in batch.items):
                batch.finished = now
                self._pending.remove(batch)

    def _process(self, batch: CreationBatch, item: BatchItem) -> None:
        body = dict(item.body)
        if item.kind in ("cwlWithStructuredInput", "cwlWithJsonInput"):
            analysis_input = dict(body.get("analysisInput") or {})
            analysis_input.pop("objectType", None)
            body["analysisInput"] = analysis_input
        try:
            item.analysis = self.emu.create_analysis(batch.project, body, item.kind)
        except Problem as problem:
            item.status, item.info = "FAILED", problem.detail
        else:
            item.status = "SUCCEEDED"

    def _job_status(self, batch: CreationBatch) -> str:
        now = self.emu.clock.now()
        if batch.finished is None:
            return "INITIALIZED" if now < batch.accepted + self.delay / 2 else "RUNNING"
        failed = sum(1 for i in batch.items if i.status == "FAILED")
        if not failed:
            return "SUCCEEDED"
        return "FAILED" if failed == len(batch.items) else "PARTIALLY_SUCCEEDED"

    # -- answers ---------------------------------------------------------------------

    def _body(self, batch: CreationBatch) -> dict[str, Any]:
        world = self.emu.world
        job: dict[str, Any] = {
            "id": batch.id,
            "status": self._job_status(batch),
            "subjectType": "AnalysisCreationBatch",
            "subjectId": batch.id,
            "timeCreated": world.stamp(batch.accepted),
            "owner": {
                "id": seed.OWNER_ID,
                "timeCreated": world.stamp(0),
                "timeModified": world.stamp(0),
                "ownerId": seed.OWNER_ID,
                "tenantId": seed.TENANT_ID,
                "username": "emulator",
                "email": "emulator@example.org",
                "active": True,
                "tenantAdministrator": False,
                "emailVerified": True,
                "twoFactorAuthentication": False,
            },
        }
        if job["status"] != "INITIALIZED":
            job["timeStarted"] = world.stamp(batch.accepted + self.delay / 2)
        if batch.finished is not None:
            job["timeFinished"] = world.stamp(batch.finished)
            failed = [i for i in batch.items if i.status == "FAILED"]
            if failed:
                job["additionalStatusInformation"] = (
                    f"{len(failed)} of {len(batch.items)} analyses could not be created"
                )
        return {"id": batch.id, "job": job}

    def _find(self, call: Call) -> CreationBatch:
        project = self.emu._project(call)
        batch = self.batches.get(call.groups["batch"])
        if batch is None or batch.project != project:
            raise Problem(
                404,
                "ICA_EMU_NOT_FOUND",
                f"Analysis creation batch {call.groups['batch']} not found in project {project}",
            )
        return batch

    def _batch(self, call: Call) -> httpx.Response:
        return self.emu._json(200, "analysisCreationBatch", self._body(self._find(call)))

    def _item_body(self, item: BatchItem, v3: bool) -> dict[str, Any]:
        tags = item.body.get("tags") or {}
        out: dict[str, Any] = {
            "id": item.id,
            "request": {
                "userReference": item.body["userReference"],
                "pipelineId": item.body["pipelineId"],
                "tags": {
                    k: list(tags.get(k) or [])
                    for k in ("technicalTags", "userTags", "referenceTags")
                },
            },
            "processing": {"status": item.status},
        }
        if item.info:
            out["processing"]["additionalStatusInformation"] = item.info
        if item.analysis is not None:
            world = self.emu.world
            out["createdAnalysis"] = (
                world.analysis_v3(item.analysis) if v3 else world.analysis_v4(item.analysis)
            )
        return out

    def _items(self, call: Call) -> httpx.Response:
        batch = self._find(call)
        wanted = call.request.url.params.get_list("status")
        items = [i for i in batch.items if not wanted or i.status in wanted]
        chunk, paging = page(items, call, self.emu.variance.page_cap)
        v3 = call.accept == V3
        body: dict[str, Any] = {"items": [self._item_body(i, v3) for i in chunk], **paging}
        if not body["nextPageToken"]:
            del body["nextPageToken"]
        name = "analysisCreationBatchItems" + ("-v3" if v3 else "")
        return self.emu._json(200, name, body)

    def _item(self, call: Call) -> httpx.Response:
        batch = self._find(call)
        item = next((i for i in batch.items if i.id == call.groups["item"]), None)
        if item is None:
            raise Problem(404, "ICA_EMU_NOT_FOUND", f"Item {call.groups['item']} not found")
        v3 = call.accept == V3
        name = "analysisCreationBatchItem" + ("-v3" if v3 else "")
        return self.emu._json(200, name, self._item_body(item, v3))


def _structured(item: dict[str, Any]) -> bool:
    analysis_input = item.get("analysisInput")
    return isinstance(analysis_input, dict) and analysis_input.get("objectType") == "STRUCTURED"


def _kind(array: str, item: dict[str, Any]) -> str:
    """The single create an item stands for (``cwlItems``: by its input's objectType)."""
    if array == "cwlItems":
        return "cwlWithStructuredInput" if _structured(item) else "cwlWithJsonInput"
    return ARRAYS[array]


def _model(array: str, item: dict[str, Any]) -> str:
    """The schema (``schema.REQUESTS`` name) an item is checked with."""
    return ITEM_MODELS.get(array, "analysis:cwl")
