"""Finding the run an interrupted launch created, by its key tag, trusting no filter.

The spec says nothing about how ``analysis:search`` matches technical tags
(``AnalysisQueryParameters.technicalTags``: "The technical-tags to filter on"), so its
answer is only a list of candidates. A run is the launch's only if it carries the exact
``runhub-key:<key>`` tag, is in the expected project (``AnalysisV4.projectId``, when
given) and runs the expected pipeline, and no other launch claimed it. Every page is
read (cursor paging).
"""

from __future__ import annotations

from typing import Any

from runhub.backend import Exchange, response_json
from runhub_ica.auth import Credentials
from runhub_ica.names import key_tag
from runhub_ica.plans import V3
from runhub_ica.wire import post


def find_launch(
    creds: Credentials,
    project: str,
    pipeline: str,
    key: str,
    claimed: frozenset[str],
    page_size: int,
) -> Exchange[dict[str, Any] | None]:
    """The analysis (as listed) that the launch with ``key`` created, or None."""
    tag = key_tag(key)
    token: str | None = None
    seen: set[str] = set()
    while True:
        params: dict[str, Any] = {"pageSize": str(page_size)}
        if token:
            params["pageToken"] = token
        resp = yield post(
            creds,
            f"/api/projects/{project}/analysis:search",
            V3,
            "find an interrupted launch",
            {"technicalTags": [tag]},
            read_only=True,
            params=params,
        )
        data = response_json(resp)
        for item in data.get("items") or []:
            if is_launch(item, tag, project, pipeline, claimed):
                return dict(item)
        token = data.get("nextPageToken") or None
        if not token or token in seen:
            return None
        seen.add(token)


def technical_tags(item: Any) -> list[str]:
    """An analysis's technical tags (empty when absent or malformed)."""
    tags = item.get("tags") if isinstance(item, dict) else None
    technical = tags.get("technicalTags") if isinstance(tags, dict) else None
    return [t for t in technical or [] if isinstance(t, str)]


def is_launch(item: Any, tag: str, project: str, pipeline: str, claimed: frozenset[str]) -> bool:
    """True if a search result is the run a launch with key tag ``tag`` created."""
    if not isinstance(item, dict) or tag not in technical_tags(item):
        return False
    if f"{project}/{item.get('id')}" in claimed:
        return False
    listed_project = item.get("projectId")  # AnalysisV4.projectId (libica 3.3), optional
    if listed_project is not None and listed_project != project:
        return False
    listed = item.get("pipeline")
    return isinstance(listed, dict) and listed.get("id") == pipeline
