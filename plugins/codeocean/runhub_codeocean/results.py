"""Result listing and download URLs (exchanges the backend delegates to).

Result paths only ever travel in a JSON body (``POST computations/{id}/results``)
or as the encoded ``path`` query parameter (``GET .../results/urls``), never in the
URL path, so a file name holding ``?``, ``#`` or ``/..`` cannot change which URL
is asked.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import httpx

from runhub.backend import Exchange, Output, RunRef, response_json

log = logging.getLogger("runhub.codeocean")

#: Builds a request to the deployment: ``(method, path relative to /api/v1/, **kwargs)``.
Requester = Callable[..., httpx.Request]


def walk_results(req: Requester, ref: RunRef, max_folders: int) -> Exchange[list[Output]]:
    """Every result file with its size, walking ``POST computations/{id}/results``
    one folder level per call (breadth first). The POST only reads: marked so.

    Past ``max_folders`` the walk stops with a warning, and the folders not walked
    are listed as ``kind="folder"`` outputs, so the list never silently looks whole.
    """
    files: list[Output] = []
    queue: list[str] = [""]
    walked: set[str] = set()
    while queue and len(walked) < max_folders:
        folder = queue.pop(0)
        walked.add(folder)
        response = yield req(
            "POST",
            f"computations/{ref.id}/results",
            json_body={"path": folder},
            read_only=True,
            purpose="list results",
        )
        data = response_json(response)
        items = data.get("items") if isinstance(data, dict) else None
        for item in items or []:
            if not isinstance(item, dict):
                continue
            path = item.get("path") or item.get("name")
            if not isinstance(path, str) or not path:
                continue
            if item.get("type") == "folder":
                if path not in walked:
                    queue.append(path)
            else:
                size = item.get("size")
                files.append(Output(path=path, size=size if isinstance(size, int) else None))
    if queue:
        log.warning(
            "%s: stopped listing results after %d folders; %d folders not listed (%s...)",
            ref,
            len(walked),
            len(set(queue)),
            queue[0],
        )
        files.extend(Output(path=folder, kind="folder") for folder in dict.fromkeys(queue))
    return files


def result_urls(req: Requester, ref: RunRef, outputs: list[Output]) -> Exchange[list[Output]]:
    """``outputs`` with ``url`` set from ``GET computations/{id}/results/urls?path=``
    (pre-signed download URLs); folders pass through unchanged.

    One request per file and nothing else, so asking for one file just before
    downloading it (the URLs expire) costs one round trip.
    """
    result = []
    for output in outputs:
        if output.kind != "file":
            result.append(output)
            continue
        response = yield req(
            "GET",
            f"computations/{ref.id}/results/urls",
            params={"path": output.path},
            purpose="result download URL",
        )
        data: Any = response_json(response)
        url = data.get("download_url") if isinstance(data, dict) else None
        result.append(replace(output, url=url if isinstance(url, str) else None))
    return result
