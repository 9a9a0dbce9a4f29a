"""The emulated endpoints: one method per ICA operation, answering from the World."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import yaml

from runhub.testing.emulator import Clock
from runhub_ica.emulator import schema, seed
from runhub_ica.emulator.protocol import CREATE_KINDS, JSON, MAX_PAGE_SIZE, Call, Problem
from runhub_ica.emulator.world import TERMINAL, AnalysisRec, World


class Endpoints:
    """Handlers for every route; :class:`~runhub_ica.emulator.app.IcaEmulator` adds the
    request checks, routing and idempotency around them."""

    world: World
    clock: Clock
    check_responses: bool
    #: The body of every create request that made an analysis, in order.
    created: list[dict[str, Any]]

    def _json(self, status: int, name: str, body: Any) -> httpx.Response:
        if self.check_responses:
            found = schema.response_problems(name, body)
            if found:
                first = next(iter(found.items()))
                raise Problem(
                    500,
                    "ICA_EMU_BUG",
                    f"emulator answer breaks the {name} schema: {first[0]}: {first[1]}",
                )
        return httpx.Response(
            status, content=json.dumps(body).encode(), headers={"Content-Type": JSON}
        )

    def _project(self, call: Call) -> str:
        project = call.groups["project"]
        if project not in self.world.projects:
            raise Problem(404, "ICA_EMU_NOT_FOUND", f"Project {project} not found")
        return project

    def _projects(self, call: Call) -> httpx.Response:
        search = call.request.url.params.get("search", "").lower()
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
        items = [
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
            if not search or search in name.lower()
        ]
        return self._json(200, "projects", {"items": items, "totalItemCount": len(items)})

    def _pipelines(self, call: Call) -> httpx.Response:
        project = self._project(call)
        items = [
            {
                "pipeline": self.world.pipeline_v3(p),
                "projectId": project,
                "bundleLinks": {"items": []},
            }
            for p in self.world.pipelines.values()
        ]
        return self._json(200, "pipelines", {"items": items})

    def _pipeline(self, project: str, ident: str) -> seed.Pipeline:
        pipeline = self.world.pipelines.get(ident)
        if pipeline is None:
            raise Problem(
                404, "ICA_EMU_NOT_FOUND", f"Pipeline {ident} not found in project {project}"
            )
        return pipeline

    def _inputs(self, call: Call) -> httpx.Response:
        project = self._project(call)
        pipeline = self._pipeline(project, call.groups["pipeline"])
        items = [
            {"id": ident, "code": code, "required": required, "multiValue": multi}
            for ident, (code, required, multi) in zip(
                pipeline.input_ids, pipeline.inputs, strict=True
            )
        ]
        return self._json(200, "inputParameters", {"items": items})

    def _storages(self, call: Call) -> httpx.Response:
        self._project(call)
        items = [
            {"id": ident, "name": name, "description": f"{name} analysis storage"}
            for name, ident in seed.STORAGES.items()
        ]
        return self._json(200, "analysisStorages", {"items": items})

    def _activation(self, call: Call) -> httpx.Response:
        body = call.body
        if body["projectId"] not in self.world.projects:
            raise Problem(404, "ICA_EMU_NOT_FOUND", f"Project {body['projectId']} not found")
        pipeline = self._pipeline(body["projectId"], body["pipelineId"])
        answer = {
            "id": seed.ACTIVATION_CODE_ID,
            "allowedSlots": -1,
            "usedSlots": 0,
            "movedSlots": 0,
            "originalSlots": -1,
            "usages": [],
            "pipelineBundle": {
                "id": "4d3c2b1a-0000-4000-8000-00000000b001",
                "name": "Emulated bundle",
                "maxNumberOfAllowedSlots": -1,
                "activePipelines": [self.world.pipeline_v3(pipeline)],
                "canceledPipelines": [],
                "retiredPipelines": [],
                "regions": [],
                "analysisStorages": [self.world.storage_v3("Small")],
            },
        }
        return self._json(200, "activationCodes:findBestMatchingForNextflow", answer)

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
        ids = set(params.get_list("id"))
        wanted = [p.lower() for p in paths]
        items = []
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
            items.append(self.world.data_body(rec))
        return self._json(
            200, "data", {"items": items, "nextPageToken": "", "totalItemCount": len(items)}
        )

    def _download_urls(self, call: Call) -> httpx.Response:
        project = self._project(call)
        body = call.body
        wanted = [("id", i) for i in body.get("dataIds") or []]
        wanted += [("path", p) for p in body.get("dataPaths") or []]
        by_path = {r.path: r for r in self.world.data.values() if r.project == project}
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
                    "url": f"https://ica-emulator.invalid/download/{rec.id}?X-Amz-Signature=emulated",
                }
            )
        return self._json(200, "data:createDownloadUrls", {"items": items})

    # -- analyses ------------------------------------------------------------------------

    def _creator(self, kind: str) -> Callable[[Call], httpx.Response]:
        def create(call: Call) -> httpx.Response:
            return self._create(call, kind)

        return create

    def _create(self, call: Call, kind: str) -> httpx.Response:
        project = self._project(call)
        body = call.body
        pipeline = self._pipeline(project, body["pipelineId"])
        language = CREATE_KINDS[kind][1]
        if pipeline.language != language:
            raise Problem(
                400,
                "ICA_EMU_PIPELINE_LANGUAGE",
                f"Pipeline {pipeline.code} is a {pipeline.language} pipeline; "
                f"analysis:{kind} needs a {language} pipeline",
            )
        storage = pipeline.storage
        if body.get("analysisStorageId"):
            storage = self.world.storage_names.get(body["analysisStorageId"], "")
            if not storage:
                raise Problem(
                    400,
                    "ICA_EMU_VALIDATION",
                    f"Analysis storage {body['analysisStorageId']} does not exist",
                    {"analysisStorageId": "unknown analysis storage"},
                )
        analysis_input = body["analysisInput"]
        values = self._check_inputs(pipeline, analysis_input)
        tags = body.get("tags") or {}
        target = None
        for mapping in body.get("analysisOutput") or []:
            target = (
                mapping["targetPath"]
                if mapping["targetPath"].endswith("/")
                else mapping["targetPath"] + "/"
            )
        rec = self.world.new_analysis(
            project,
            body["userReference"],
            pipeline,
            storage,
            {k: list(tags.get(k) or []) for k in ("technicalTags", "userTags", "referenceTags")},
            fail=seed.FAIL_VALUE in values,
            slow=seed.SLOW_VALUE in values,
            output_target=target,
        )
        self.created.append(body)
        return self._json(201, "create", self.world.analysis_v4(rec))

    def _check_inputs(self, pipeline: seed.Pipeline, analysis_input: dict[str, Any]) -> set[str]:
        """Data ids must exist, parameterCodes must be the pipeline's; returns all values."""
        codes = [c for c, _, _ in pipeline.inputs]
        values: set[str] = set()
        ids: list[str] = list(analysis_input.get("dataIds") or [])
        ids += [m["dataId"] for m in analysis_input.get("mounts") or []]
        for entry in analysis_input.get("inputs") or []:
            if entry["parameterCode"] not in codes:
                raise Problem(
                    400,
                    "ICA_EMU_INPUT",
                    f"Unknown input parameter code "
                    f"{entry['parameterCode']!r}; the pipeline has: {', '.join(codes)}",
                    {"parameterCode": entry["parameterCode"]},
                )
            ids += entry.get("dataIds") or []
            ids += [m["dataId"] for m in entry.get("mounts") or []]
        for ident in ids:
            if ident not in self.world.data:
                raise Problem(
                    400, "ICA_EMU_INPUT", f"Data {ident} does not exist", {"dataId": ident}
                )
        for param in analysis_input.get("parameters") or []:
            values.update([param.get("value") or "", *(param.get("multiValue") or [])])
        for key in ("customInput", "inputJson"):
            if key in analysis_input:
                values.update(_strings(_loads(analysis_input[key], key)))
        return values

    def _find(self, call: Call) -> AnalysisRec:
        project = self._project(call)
        rec = self.world.analyses.get(call.groups["analysis"])
        if rec is None or rec.project != project:
            raise Problem(
                404,
                "ICA_EMU_NOT_FOUND",
                f"Analysis {call.groups['analysis']} not found in project {project}",
            )
        return rec

    def _analysis(self, call: Call) -> httpx.Response:
        return self._json(200, "analysis", self.world.analysis_v4(self._find(call)))

    def _abort(self, call: Call) -> httpx.Response:
        rec = self._find(call)
        status, _, _ = self.world.status_at(rec, self.clock.now())
        if status not in TERMINAL and rec.aborted_at is None:
            rec.aborted_at = self.clock.now()
        return httpx.Response(204)

    def _outputs(self, call: Call) -> httpx.Response:
        return self._json(200, "outputs", self.world.outputs_body(self._find(call)))

    def _search(self, call: Call) -> httpx.Response:
        project = self._project(call)
        params = call.request.url.params
        size_text = params.get("pageSize", "100")
        if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_PAGE_SIZE:
            raise Problem(
                400,
                "ICA_EMU_VALIDATION",
                f"pageSize must be a number from 1 to {MAX_PAGE_SIZE}",
                {"pageSize": size_text},
            )
        size = int(size_text)
        offset = _cursor(params.get("pageToken"))
        query = call.body or {}
        matches = [
            rec
            for rec in self.world.analyses.values()
            if rec.project == project and self._matches(rec, query)
        ]
        page = matches[offset : offset + size]
        rest = len(matches) - offset - len(page)
        token = (
            base64.urlsafe_b64encode(f"cursor:{offset + size}".encode()).decode()
            if rest > 0
            else None
        )
        body: dict[str, Any] = {
            "items": [self.world.analysis_v4(r) for r in page],
            "remainingRecords": max(rest, 0),
        }
        if token:
            body["nextPageToken"] = token
        return self._json(200, "analysis:search", body)

    def _matches(self, rec: AnalysisRec, query: dict[str, Any]) -> bool:
        for field, attr in (
            ("technicalTags", "technicalTags"),
            ("userTags", "userTags"),
            ("referenceTags", "referenceTags"),
        ):
            wanted = query.get(field)
            if wanted and not set(wanted) & set(rec.tags.get(attr, [])):
                return False
        if query.get("userReference") and query["userReference"] != rec.user_reference:
            return False
        if query.get("reference") and query["reference"] != rec.reference:
            return False
        if query.get("status"):
            status, _, _ = self.world.status_at(rec, self.clock.now())
            if status not in query["status"]:
                return False
        return True


def _cursor(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        return int(text.removeprefix("cursor:"))
    except ValueError:
        raise Problem(
            400, "ICA_EMU_VALIDATION", "pageToken is not valid", {"pageToken": token}
        ) from None


def _loads(text: str, field: str) -> Any:
    """customInput is "YAML or an escaped JSON string" (JSON is a subset of YAML)."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise Problem(
            400,
            "ICA_EMU_VALIDATION",
            f"{field} is neither JSON nor YAML",
            {f"analysisInput.{field}": "escaped JSON or YAML expected"},
        ) from None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
