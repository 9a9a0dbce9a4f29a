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
from typing import Any

from runhub.backend import Output


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
