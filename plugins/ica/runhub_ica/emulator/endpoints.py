"""The emulated endpoints: one method per ICA operation, answering from the World."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import yaml

from runhub.testing.emulator import Clock
from runhub_ica.emulator import schema, seed
from runhub_ica.emulator.catalog import Catalog, page
from runhub_ica.emulator.protocol import CREATE_KINDS, JSON, V3, Call, Problem
from runhub_ica.emulator.variance import Variance
from runhub_ica.emulator.world import TERMINAL, AnalysisRec, World

re_words = re.compile(r"[a-z0-9]+")


class Endpoints(Catalog):
    """Handlers for every route; :class:`~runhub_ica.emulator.app.IcaEmulator` adds the
    request checks, routing and idempotency around them."""

    world: World
    clock: Clock
    variance: Variance
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

    def _pipeline_one(self, call: Call) -> httpx.Response:
        project = self._project(call)
        pipeline = self._pipeline(project, call.groups["pipeline"])
        if call.accept == V3:
            item = {
                "pipeline": self.world.pipeline_v3(pipeline),
                "projectId": project,
                "bundleLinks": {"items": []},
            }
            return self._json(200, "pipeline-v3", item)
        body = {
            "pipeline": self.world.pipeline_v4(pipeline),
            "projectId": project,
            "bundleLinks": {"items": []},
        }
        return self._json(200, "pipeline", body)

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

    # -- analyses ------------------------------------------------------------------------

    def _creator(self, kind: str) -> Callable[[Call], httpx.Response]:
        def create(call: Call) -> httpx.Response:
            return self._create(call, kind)

        return create

    def _create(self, call: Call, kind: str) -> httpx.Response:
        rec = self.create_analysis(self._project(call), call.body, kind)
        if call.accept == V3:
            return self._json(201, "analysis-v3", self.world.analysis_v3(rec))
        return self._json(201, "create", self.world.analysis_v4(rec))

    def create_analysis(self, project: str, body: dict[str, Any], kind: str) -> AnalysisRec:
        """Check a create body as ``analysis:<kind>`` would (Problem if refused), then
        make its analysis (creation batches make theirs the same way)."""
        pipeline = self._pipeline(project, body["pipelineId"])
        _, _, language, form = CREATE_KINDS[kind]
        if pipeline.language != language:
            raise Problem(
                400,
                "ICA_EMU_PIPELINE_LANGUAGE",
                f"Pipeline {pipeline.code} is a {pipeline.language} pipeline; "
                f"analysis:{kind} needs a {language} pipeline",
            )
        if form is not None and pipeline.form != form:
            # The spec's summaries: analysis:nextflow / cwlWithStructuredInput are for
            # pipelines with an (XML) input form, :nextflowJson / :cwlJson for "JSON based"
            # ones; the custom-input endpoints bypass the form.
            right = {
                ("NEXTFLOW", "JSON"): "analysis:nextflowJson",
                ("NEXTFLOW", "XML"): "analysis:nextflow",
                ("CWL", "JSON"): "analysis:cwlJson",
                ("CWL", "XML"): "analysis:cwlWithStructuredInput",
            }[(pipeline.language, pipeline.form)]
            raise Problem(
                400,
                "ICA_EMU_INPUT_FORM",
                f"Pipeline {pipeline.code} has a {pipeline.form} input form; "
                f"analysis:{kind} cannot start it, use {right}",
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
        if "inputFormValues" in body:
            values = self._check_form(pipeline, body["inputFormValues"])
        else:
            values = self._check_inputs(pipeline, body["analysisInput"])
        tags = body.get("tags") or {}
        target = target_project = None
        for mapping in body.get("analysisOutput") or []:
            target = (
                mapping["targetPath"]
                if mapping["targetPath"].endswith("/")
                else mapping["targetPath"] + "/"
            )
            target_project = mapping["targetProjectId"]
            if target_project not in self.world.projects:
                raise Problem(
                    400,
                    "ICA_EMU_VALIDATION",
                    f"Target project {target_project} does not exist",
                    {"analysisOutput.targetProjectId": target_project},
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
            output_project=target_project,
        )
        self.created.append(body)
        return rec

    def _check_form(self, pipeline: seed.Pipeline, form: dict[str, Any]) -> set[str]:
        """``inputFormValues``: every field one of the form's, data fields' data known."""
        data_fields = [c for c, _, _ in pipeline.inputs]
        known = set(data_fields) | set(pipeline.settings)
        values: set[str] = set()
        fields = list(form.get("fields") or [])
        for group in form.get("groups") or []:
            for entry in group.get("values") or []:
                fields.extend(entry.get("values") or [])
        for field in fields:
            if field["id"] not in known:
                raise Problem(
                    400,
                    "ICA_EMU_INPUT",
                    f"Unknown input form field {field['id']!r}; the form has: "
                    + ", ".join(sorted(known)),
                    {"fields.id": field["id"]},
                )
            for item in [
                *(field.get("dataValues") or []),
                *(field.get("externalDataValues") or []),
            ]:
                _check_mount_path(item.get("mountPath"))
            for item in field.get("dataValues") or []:
                if field["id"] not in data_fields:
                    raise Problem(
                        400, "ICA_EMU_INPUT", f"Field {field['id']!r} is not a data field"
                    )
                if item["dataId"] not in self.world.data:
                    raise Problem(
                        400,
                        "ICA_EMU_INPUT",
                        f"Data {item['dataId']} does not exist",
                        {"dataId": item["dataId"]},
                    )
            values.update(v for v in field.get("values") or [] if isinstance(v, str))
        return values

    def _check_inputs(self, pipeline: seed.Pipeline, analysis_input: dict[str, Any]) -> set[str]:
        """Data ids must exist, parameterCodes must be the pipeline's; returns all values."""
        codes = [c for c, _, _ in pipeline.inputs]
        values: set[str] = set()
        ids: list[str] = list(analysis_input.get("dataIds") or [])
        mounts = list(analysis_input.get("mounts") or [])
        ids += [m["dataId"] for m in mounts]
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
            mounts += entry.get("mounts") or []
            mounts += entry.get("externalData") or []
        mounts += analysis_input.get("externalData") or []
        for mount in mounts:
            _check_mount_path(mount.get("mountPath"))
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
        if call.accept == V3:
            return self._json(200, "analysis-v3", self.world.analysis_v3(self._find(call)))
        return self._json(200, "analysis", self.world.analysis_v4(self._find(call)))

    def _abort(self, call: Call) -> httpx.Response:
        rec = self._find(call)
        status, _, _ = self.world.status_at(rec, self.clock.now())
        if status not in TERMINAL and rec.aborted_at is None:
            rec.aborted_at = self.clock.now()
        return httpx.Response(204)

    def _outputs(self, call: Call) -> httpx.Response:
        body = self.world.outputs_body(
            self._find(call), machine_paths=self.variance.machine_mount_paths
        )
        return self._json(200, "outputs", body)

    def _search(self, call: Call) -> httpx.Response:
        project = self._project(call)
        query = call.body or {}
        matches = [
            rec
            for rec in self.world.analyses.values()
            if rec.project == project and self._matches(rec, query)
        ]
        chunk, paging = page(matches, call, None)
        body: dict[str, Any] = {"items": [self.world.analysis_v4(r) for r in chunk], **paging}
        if not body["nextPageToken"]:
            del body["nextPageToken"]
        return self._json(200, "analysis:search", body)

    def _matches(self, rec: AnalysisRec, query: dict[str, Any]) -> bool:
        for field, attr in (
            ("technicalTags", "technicalTags"),
            ("userTags", "userTags"),
            ("referenceTags", "referenceTags"),
        ):
            wanted = query.get(field)
            have = rec.tags.get(attr, [])
            if self.variance.loose_tags:
                if wanted and not _words(wanted) & _words(have):
                    return False
            elif wanted and not set(wanted) & set(have):
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


def _check_mount_path(path: Any) -> None:
    """Spec (AnalysisInputDataMount / AnalysisInputExternalData.mountPath): "The path
    should end with the file name": not a folder path, not a data id."""
    if path is None:
        return
    name = str(path).rsplit("/", 1)[-1]
    if not name or DATA_ID.fullmatch(name):
        raise Problem(
            400,
            "ICA_EMU_VALIDATION",
            f"mountPath {path!r} must end with the file name",
            {"mountPath": str(path)},
        )


DATA_ID = re.compile(r"(fil|fol)\.[0-9a-fA-F]{32}")


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


def _words(tags: list[str]) -> set[str]:
    """The words of some tags (the loose reading: ``runhub-key:abc`` has the words
    ``runhub``, ``key`` and ``abc``)."""
    return {w for tag in tags for w in re_words.findall(tag.lower())}
