"""Which launch keys ICA holds for a batch: how a lost ledger is noticed.

Every analysis runhub creates carries two technical tags (``translate.body``): the
batch's (``runhub-batch:<id>``) and its launch key's (``runhub-key:<key>``). One
``POST /api/projects/{projectId}/analysis:search`` per page (operation
``searchAnalyses``, body ``AnalysisQueryParameters.technicalTags``; cursor paging
with ``pageToken``/``nextPageToken``) lists the batch's analyses; their key tags
are the keys ICA holds for the batch. The spec does not say whether the tag
filter matches exactly, so every item's own tags are checked again here.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from runhub.backend import Exchange, response_json
from runhub_ica.auth import Credentials
from runhub_ica.names import KEY_TAG_PREFIX, batch_tag
from runhub_ica.plans import V3
from runhub_ica.recovery import technical_tags
from runhub_ica.wire import post


def batch_keys(
    creds: Credentials, batch: str, projects: Iterable[str], page_size: int
) -> Exchange[frozenset[str]]:
    """The launch keys of every analysis of ``batch`` in ``projects``."""
    tag = batch_tag(batch)
    keys: set[str] = set()
    for project in projects:
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
                "find the runs of a batch",
                {"technicalTags": [tag]},
                read_only=True,
                params=params,
            )
            data = response_json(resp)
            for item in data.get("items") or []:
                keys.update(_keys_of(item, tag))
            token = data.get("nextPageToken") or None
            if not token or token in seen:
                break
            seen.add(token)
    return frozenset(keys)


def _keys_of(item: Any, tag: str) -> set[str]:
    tags = technical_tags(item)
    if tag not in tags:
        return set()
    return {
        t.removeprefix(KEY_TAG_PREFIX)
        for t in tags
        if isinstance(t, str) and t.startswith(KEY_TAG_PREFIX)
    }
