"""An analysis's outputs (``AnalysisOutputList``) as runhub ``Output`` rows.

Each ``AnalysisOutput`` names the project its data is in (``projectId``; an
``analysisOutput`` mapping may send results to another project) and a tree of
``AnalysisData`` (``name``, ``dataType``, ``children``). A row's path is the names from
the output folder down (``<folder>/results/x.tsv``, folders ending with ``/``):
``AnalysisData.mountPath`` is documented as "the requested location where the input
file was located on the machine", not a place in the project, so it is not used.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from runhub.backend import Exchange, Output, response_json
from runhub.transfer import RemoteFile
from runhub_ica.auth import Credentials
from runhub_ica.plans import V3
from runhub_ica.upload import remote_file
from runhub_ica.wire import get, post

if TYPE_CHECKING:
    from runhub_ica.lookups import Lookups

#: File ids per data listing (``GET …/data?id=…``) when adding sizes.
SIZE_CHUNK = 100


def _walk(data: dict[str, Any], parent: str, into: list[Output]) -> None:
    name = str(data.get("name") or data.get("dataId") or "").strip("/")
    folder = data.get("dataType") == "FOLDER"
    path = f"{parent}{name}/" if folder else f"{parent}{name}"
    into.append(Output(path, None, "folder" if folder else "file", data.get("dataId")))
    for child in data.get("children") or []:
        if isinstance(child, dict):
            _walk(child, path if folder else f"{path}/", into)


def flatten(answer: Any, project: str) -> tuple[list[Output], dict[str, str]]:
    """``(rows, data id -> project)`` of an outputs answer; ``project`` is the run's,
    for outputs that name none."""
    found: list[Output] = []
    where: dict[str, str] = {}
    items = answer.get("items") if isinstance(answer, dict) else None
    for item in items or []:
        if not isinstance(item, dict):
            continue
        owner = str(item.get("projectId") or project)
        start = len(found)
        for data in item.get("data") or []:
            if isinstance(data, dict):
                _walk(data, "", found)
        for out in found[start:]:
            if out.id:
                where[out.id] = owner
    return found, where


def output_projects(
    outputs: Iterable[Output], where: dict[str, str], default: str
) -> dict[str, list[str]]:
    """The file ids of ``outputs`` grouped by the project they are in."""
    groups: dict[str, list[str]] = {}
    for out in outputs:
        if out.kind == "file" and out.id:
            groups.setdefault(where.get(out.id, default), []).append(out.id)
    return groups


def list_outputs(
    creds: Credentials, lookups: Lookups, project: str, analysis: str
) -> Exchange[tuple[list[Output], dict[str, str]]]:
    """``getAnalysisOutputs`` as rows, with sizes and checksums (absent from that
    answer) from one data listing per 100 files of each project the outputs are in:
    ``fileSizeInBytes``, ``objectETag`` and runhub's content tag (files runhub
    uploaded), which downloads are checked against."""
    resp = yield get(
        creds, f"/api/projects/{project}/analyses/{analysis}/outputs", V3, "list outputs"
    )
    found, where = flatten(response_json(resp), project)
    details: dict[str, RemoteFile] = {}
    for owner, files in output_projects(found, where, project).items():
        for start in range(0, len(files), SIZE_CHUNK):
            chunk = files[start : start + SIZE_CHUNK]
            listed = yield from lookups.pages(
                f"/api/projects/{owner}/data", "output sizes", id=chunk, pageSize=str(len(chunk))
            )
            for entry in listed:
                data = entry.get("data") if isinstance(entry, dict) else None
                if isinstance(data, dict) and "id" in data:
                    details[str(data["id"])] = remote_file(entry)
    return [_with_details(o, details.get(o.id or "")) for o in found], where


def _with_details(out: Output, remote: RemoteFile | None) -> Output:
    if remote is None:
        return out
    size = remote.size if remote.size is not None else out.size
    return replace(out, size=size, sha256=remote.sha256, etag=remote.etag)


def file_urls(
    creds: Credentials, files: list[Output], where: dict[str, str], project: str
) -> Exchange[dict[str, str]]:
    """Presigned URLs (``createDownloadUrlsForData``), asked in each file's project."""
    urls: dict[str, str] = {}
    for owner, ids in output_projects(files, where, project).items():
        resp = yield post(
            creds,
            f"/api/projects/{owner}/data:createDownloadUrls",
            V3,
            "create download urls",
            {"dataIds": ids},
            read_only=True,
        )
        for item in response_json(resp).get("items", []):
            if isinstance(item, dict) and isinstance(item.get("url"), str):
                urls[str(item.get("dataId"))] = item["url"]
    return urls
