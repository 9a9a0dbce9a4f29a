"""The lookups a launch may need, cached per backend instance.

Pipeline codes, storage sizes, data paths, pipeline inputs and project names each
cost one lookup the first time and none after, so a samplesheet of 1000 runs of one
pipeline does each lookup once. Listings are followed page by page (cursor paging:
``pageToken`` until ``nextPageToken`` is empty), and nothing a filter returns is
trusted: every match is checked exactly here.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from runhub.backend import Exchange, response_json
from runhub.errors import ConfigError, NotFound, SpecError
from runhub_ica.auth import Credentials
from runhub_ica.datapaths import DataItem, check_usable, pick
from runhub_ica.translate import V3, V4, Mount, Plan, is_uuid
from runhub_ica.wire import get

_LANGUAGE = {"nextflow": "NEXTFLOW", "nextflow-custom": "NEXTFLOW", "cwl": "CWL", "cwl-json": "CWL"}
#: Stop following a listing that hands back a token it already gave (a server bug).
_MAX_PAGES = 10_000


def _near(word: str, choices: Sequence[str]) -> list[str]:
    return difflib.get_close_matches(word, list(choices), n=5, cutoff=0.4)


@dataclass(frozen=True)
class Pipeline:
    """What a launch needs to know of its pipeline."""

    id: str
    #: ``inputFormType``: XML (structured input) or JSON (``inputFormValues``)
    form: str = "XML"


class Lookups:
    """Resolve pipeline codes, inputs, project names, data paths and storage sizes."""

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self.settings = creds.settings
        self._pipelines: dict[str, list[dict[str, Any]]] = {}
        self._pipeline_ids: dict[tuple[str, str], dict[str, Any]] = {}
        self._inputs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._storages: dict[str, list[dict[str, Any]]] = {}
        self._data: dict[tuple[str, str], DataItem] = {}
        self._names: dict[tuple[str, str], str] = {}
        self._projects: dict[str, str] = {}

    def clear(self) -> None:
        """Forget everything looked up."""
        for cache in (
            self._pipelines,
            self._pipeline_ids,
            self._inputs,
            self._storages,
            self._data,
            self._names,
            self._projects,
        ):
            cache.clear()

    def pages(
        self, path: str, purpose: str, accept: str = V3, **params: Any
    ) -> Exchange[list[dict[str, Any]]]:
        """Every item of a cursor-paged listing."""
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        token: str | None = None
        params.setdefault("pageSize", str(self.settings.page_size))
        for _ in range(_MAX_PAGES):
            if token:
                params["pageToken"] = token
            resp = yield get(self.creds, path, accept, purpose, **params)
            data = response_json(resp)
            items.extend(i for i in data.get("items") or [] if isinstance(i, dict))
            token = data.get("nextPageToken") or None
            if not token or token in seen:
                break
            seen.add(token)
        return items

    # -- pipelines ---------------------------------------------------------------------

    def pipeline(self, project: str, p: Plan) -> Exchange[Pipeline]:
        """The pipeline's id and input form: by id (``getProjectPipeline``) or by code
        or name from the project's listing (``getProjectPipelines``, not paged)."""
        if p.pipeline_is_id:
            found = self._pipeline_ids.get((project, p.pipeline))
            if found is None:
                resp = yield get(
                    self.creds,
                    f"/api/projects/{project}/pipelines/{p.pipeline}",
                    V4,
                    "get pipeline",
                )
                found = response_json(resp).get("pipeline") or {}
                self._pipeline_ids[(project, p.pipeline)] = found
            return self._checked(found, p, p.pipeline)
        items = self._pipelines.get(project)
        if items is None:
            resp = yield get(self.creds, f"/api/projects/{project}/pipelines", V3, "list pipelines")
            data = response_json(resp)
            items = [i["pipeline"] for i in data.get("items", []) if isinstance(i, dict)]
            self._pipelines[project] = items
        for pipeline in items:
            if p.pipeline in (pipeline.get("code"), pipeline.get("name")):
                return self._checked(pipeline, p, str(pipeline["id"]))
        codes = [str(x.get("code")) for x in items if x.get("code")]
        raise NotFound(
            f"no pipeline with code {p.pipeline!r} in ICA project {project}",
            candidates=_near(p.pipeline, codes),
        )

    def _checked(self, pipeline: dict[str, Any], p: Plan, ident: str) -> Pipeline:
        language = pipeline.get("language")
        if language in ("NEXTFLOW", "CWL") and language != _LANGUAGE[p.kind]:
            other = (
                "'cwl' or 'cwl-json'" if language == "CWL" else "'nextflow' or 'nextflow-custom'"
            )
            raise SpecError(
                f"pipeline {p.pipeline!r} is a {language} pipeline, "
                f"but the launch kind is {p.kind!r}",
                field="options.ica.kind",
                hint=f"set options.ica.kind to {other}",
            )
        form = pipeline.get("inputFormType")
        return Pipeline(ident, "JSON" if form == "JSON" else "XML")

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
                self.creds,
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

    # -- projects ----------------------------------------------------------------------

    def project_id(self, ref: str, where: str = "ICAV2_PROJECT_ID") -> Exchange[str]:
        """A project id, or the id of the one project named exactly ``ref``.

        ``getProjects``: every page, hidden projects included
        (``includeHiddenProjects``). The spec does not say what ``search`` matches,
        so when it finds no exact name the whole listing is read before giving up.
        """
        if is_uuid(ref):
            return ref
        cached = self._projects.get(ref)
        if cached:
            return cached
        items: list[dict[str, Any]] = []
        for narrow in ({"search": ref}, {}):
            items = yield from self.pages(
                "/api/projects", "find project", includeHiddenProjects="true", **narrow
            )
            ids = list(dict.fromkeys(str(i.get("id")) for i in items if i.get("name") == ref))
            if len(ids) == 1:
                self._projects[ref] = ids[0]
                return ids[0]
            if len(ids) > 1:
                message = f"{len(ids)} ICA projects are named {ref!r}"
                hint = "give the project's id instead: " + ", ".join(ids)
                if where.startswith(("options.", "mounts.")):
                    raise SpecError(message, field=where, hint=hint)
                raise ConfigError(f"{where}: {message}", hint=hint)
        raise NotFound(
            f"no ICA project named {ref!r} ({where})",
            candidates=_near(ref, [str(i.get("name")) for i in items]),
        )

    # -- data --------------------------------------------------------------------------

    def data(self, project: str, mount: Mount, index: int) -> Exchange[DataItem]:
        """The usable (AVAILABLE) file or folder at a mount's project path."""
        owner = project
        if mount.project is not None:
            owner = yield from self.project_id(mount.project, f"mounts.{index}.source")
        path = mount.source
        cache_key = (owner, path)
        cached = self._data.get(cache_key)
        if cached is not None:
            return cached
        bare = path.rstrip("/") or "/"
        # A trailing "/" means a folder; without one, a file first, then a folder.
        kinds = ("FOLDER",) if path.endswith("/") else ("FILE", "FOLDER")
        listed: list[dict[str, Any]] = []
        found: DataItem | None = None
        for kind in kinds:
            full = bare + "/" if kind == "FOLDER" else bare
            items = yield from self.pages(
                f"/api/projects/{owner}/data",
                "find data by path",
                filePath=[full],
                filePathMatchMode="FULL_CASE_INSENSITIVE",
                type=kind,
            )
            listed += items
            found = pick(items, full, kind, field=f"mounts.{index}.source")
            if found is not None:
                break
        if found is None:
            near = [c for c in (DataItem.full_path_of(i.get("data") or {}) for i in listed) if c]
            message = (
                f"mounts.{index}.source: no file or folder at {path!r} in ICA project {owner} "
                "(paths match exactly, case included)"
            )
            # DESIGN.md §11: an absolute path is a project path; one that exists here is
            # named, never guessed.
            if os.path.exists(path):
                raise NotFound(message, candidates=near, hint=f"did you mean file:{path}?")
            raise NotFound(message, candidates=near)
        check_usable(found, path, owner, field=f"mounts.{index}.source")
        self._data[cache_key] = found
        return found

    def data_name(self, project: str, data_id: str) -> Exchange[str]:
        """The name of a file or folder given by id (``getProjectData``)."""
        cached = self._names.get((project, data_id))
        if cached:
            return cached
        resp = yield get(self.creds, f"/api/projects/{project}/data/{data_id}", V3, "data name")
        data = response_json(resp).get("data") or {}
        name = str((data.get("details") or {}).get("name") or "") or data_id
        self._names[(project, data_id)] = name
        return name

    # -- storage -----------------------------------------------------------------------

    def storage(self, project: str, storage: str | None) -> Exchange[str | None]:
        if storage is None or is_uuid(storage):
            return storage
        items = self._storages.get(project)
        if items is None:
            resp = yield get(
                self.creds,
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
