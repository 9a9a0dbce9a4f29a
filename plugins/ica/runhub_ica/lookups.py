"""The lookups a launch may need, cached per backend instance.

Pipeline codes, storage sizes, data paths, pipeline inputs and project names each
cost one request the first time and none after, so a samplesheet of 1000 runs of one
pipeline does each lookup once.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from runhub.backend import Exchange, response_json
from runhub.errors import NotFound, SpecError
from runhub_ica.settings import IcaSettings
from runhub_ica.translate import V3, V4, Mount, Plan, is_uuid
from runhub_ica.wire import get

_LANGUAGE = {"nextflow": "NEXTFLOW", "nextflow-custom": "NEXTFLOW", "cwl": "CWL", "cwl-json": "CWL"}


def _near(word: str, choices: Sequence[str]) -> list[str]:
    return difflib.get_close_matches(word, list(choices), n=5, cutoff=0.4)


class Lookups:
    """Resolve pipeline codes, inputs, project names, data paths and storage sizes."""

    def __init__(self, settings: IcaSettings) -> None:
        self.settings = settings
        self._pipelines: dict[str, list[dict[str, Any]]] = {}
        self._inputs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._storages: dict[str, list[dict[str, Any]]] = {}
        self._data: dict[tuple[str, str], str] = {}
        self._projects: dict[str, str] = {}

    def clear(self) -> None:
        """Forget everything looked up."""
        for cache in (self._pipelines, self._inputs, self._storages, self._data, self._projects):
            cache.clear()

    def pipeline(self, project: str, p: Plan) -> Exchange[str]:
        if p.pipeline_is_id:
            return p.pipeline
        items = self._pipelines.get(project)
        if items is None:
            resp = yield get(
                self.settings, f"/api/projects/{project}/pipelines", V3, "list pipelines"
            )
            data = response_json(resp)
            items = [i["pipeline"] for i in data.get("items", []) if isinstance(i, dict)]
            self._pipelines[project] = items
        for pipeline in items:
            if p.pipeline in (pipeline.get("code"), pipeline.get("name")):
                language = pipeline.get("language")
                if language in ("NEXTFLOW", "CWL") and language != _LANGUAGE[p.kind]:
                    other = (
                        "'cwl' or 'cwl-json'"
                        if language == "CWL"
                        else "'nextflow' or 'nextflow-custom'"
                    )
                    raise SpecError(
                        f"pipeline {p.pipeline!r} is a {language} pipeline, "
                        f"but the launch kind is {p.kind!r}",
                        field="options.ica.kind",
                        hint=f"set options.ica.kind to {other}",
                    )
                return str(pipeline["id"])
        codes = [str(x.get("code")) for x in items if x.get("code")]
        raise NotFound(
            f"no pipeline with code {p.pipeline!r} in ICA project {project}",
            candidates=_near(p.pipeline, codes),
        )

    def input_codes(
        self, project: str, pipeline_id: str, p: Plan
    ) -> Exchange[tuple[str | None, ...]]:
        codes: tuple[str | None, ...] = tuple(m.input for m in p.mounts)
        if not p.needs_input_codes:
            return codes
        key = (project, pipeline_id)
        items = self._inputs.get(key)
        if items is None:
            resp = yield get(
                self.settings,
                f"/api/projects/{project}/pipelines/{pipeline_id}/inputParameters",
                V3,
                "list pipeline inputs",
            )
            items = [i for i in response_json(resp).get("items", []) if isinstance(i, dict)]
            self._inputs[key] = items
        known = [str(i.get("code")) for i in items]
        if len(known) == 1:
            return tuple(c if c is not None else known[0] for c in codes)
        index = codes.index(None)
        raise SpecError(
            f"the pipeline has {len(known)} data inputs, so each mount must say which it feeds",
            field=f"mounts.{index}.input",
            hint="valid inputs: " + (", ".join(known) or "none"),
        )

    def project_id(self, ref: str) -> Exchange[str]:
        if is_uuid(ref):
            return ref
        cached = self._projects.get(ref)
        if cached:
            return cached
        resp = yield get(self.settings, "/api/projects", V3, "find project", search=ref)
        items = [i for i in response_json(resp).get("items", []) if isinstance(i, dict)]
        for item in items:
            if item.get("name") == ref:
                self._projects[ref] = str(item["id"])
                return str(item["id"])
        raise NotFound(
            f"no ICA project named {ref!r}",
            candidates=_near(ref, [str(i.get("name")) for i in items]),
        )

    def data_id(self, project: str, mount: Mount, index: int) -> Exchange[str]:
        owner = project
        if mount.project is not None:
            owner = yield from self.project_id(mount.project)
        path = mount.source
        cache_key = (owner, path)
        cached = self._data.get(cache_key)
        if cached:
            return cached
        bare = path.rstrip("/") or "/"
        wanted = [path] if path.endswith("/") else [bare, bare + "/"]
        resp = yield get(
            self.settings,
            f"/api/projects/{owner}/data",
            V3,
            "find data by path",
            filePath=wanted,
            filePathMatchMode="FULL_CASE_INSENSITIVE",
        )
        items = [
            i.get("data", {}) for i in response_json(resp).get("items", []) if isinstance(i, dict)
        ]
        for data in items:
            if (data.get("details") or {}).get("path") in wanted:
                self._data[cache_key] = str(data["id"])
                return str(data["id"])
        near = [str((d.get("details") or {}).get("path")) for d in items]
        raise NotFound(
            f"mounts.{index}.source: no file or folder at {path!r} in ICA project {owner} "
            "(paths match exactly, case included)",
            candidates=near,
        )

    def storage(self, project: str, storage: str | None) -> Exchange[str | None]:
        if storage is None or is_uuid(storage):
            return storage
        items = self._storages.get(project)
        if items is None:
            resp = yield get(
                self.settings,
                f"/api/projects/{project}/analysisStorages",
                V4,
                "list analysis storages",
            )
            items = [i for i in response_json(resp).get("items", []) if isinstance(i, dict)]
            self._storages[project] = items
        for exact in (True, False):
            for item in items:
                name = str(item.get("name"))
                if name == storage or (not exact and name.lower() == storage.lower()):
                    return str(item["id"])
        names = [str(i.get("name")) for i in items]
        raise NotFound(
            f"no analysis storage named {storage!r} in ICA project {project}",
            candidates=_near(storage, names) or names,
        )
