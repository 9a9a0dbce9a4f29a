"""Which listed data item is at a project path, and whether a run can read it.

``DataDetails.path`` is "the user friendly path of the parent of this data" in the
spec, while wrapica (and ICA as observed by it) treats it as the item's own path
(files ``/a/b.txt``, folders ``/a/b/``). The authority is ambiguous, so an item is at
``/a/b.txt`` under either reading: its ``path`` is ``/a/b.txt``, or its ``path`` is
``/a/`` and its ``name`` is ``b.txt``. The match is exact and case-sensitive (the
server's filter, ``FULL_CASE_INSENSITIVE``, is not), and the type must agree.

Only ``AVAILABLE`` data can feed a run (``DataDetails.status``: PARTIAL means the
upload has not finished; ARCHIVING/ARCHIVED/UNARCHIVING data is in cold storage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runhub.errors import SpecError

_UNUSABLE = {
    "PARTIAL": (
        "its upload has not finished (status PARTIAL)",
        "finish the upload, or upload again",
    ),
    "ARCHIVING": ("it is being archived", "unarchive it in ICA, then launch again"),
    "ARCHIVED": ("it is archived", "unarchive it in ICA, then launch again"),
    "UNARCHIVING": ("it is still being unarchived", "wait until it is AVAILABLE"),
    "DELETING": ("it is being deleted", "use another copy of the data"),
}


@dataclass(frozen=True)
class DataItem:
    """A file or folder found at a path."""

    id: str
    name: str
    folder: bool
    status: str | None

    @staticmethod
    def full_path_of(data: dict[str, Any]) -> str | None:
        """The item's path as listed (either reading), for near-match hints."""
        details = data.get("details") or {}
        path, name = details.get("path"), details.get("name")
        if not isinstance(path, str):
            return None
        if isinstance(name, str) and name and not path.rstrip("/").endswith("/" + name):
            return path.rstrip("/") + "/" + name
        return path


def _is_at(data: dict[str, Any], full: str, kind: str) -> tuple[bool, bool]:
    """(own-path reading matches, parent-path reading matches)."""
    details = data.get("details") or {}
    listed_type = details.get("dataType")
    if listed_type is not None and listed_type != kind:
        return False, False
    path, name = details.get("path"), details.get("name")
    if not isinstance(path, str):
        return False, False
    want = full.rstrip("/") or "/"
    base = want.rsplit("/", 1)[-1]
    if isinstance(name, str) and name and name != base:
        return False, False
    own = (path.rstrip("/") or "/") == want
    parent = (path.rstrip("/") + "/" + base) == want if base else False
    return own, parent


def pick(items: list[dict[str, Any]], full: str, kind: str, *, field: str) -> DataItem | None:
    """The one item at ``full`` among ``items`` (``ProjectData`` rows), else None."""
    own: dict[str, dict[str, Any]] = {}
    parent: dict[str, dict[str, Any]] = {}
    for item in items:
        data = item.get("data") if isinstance(item.get("data"), dict) else None
        if data is None or not data.get("id"):
            continue
        by_own, by_parent = _is_at(data, full, kind)
        if by_own:
            own[str(data["id"])] = data
        elif by_parent:
            parent[str(data["id"])] = data
    hits = own or parent
    if len(hits) > 1:
        raise SpecError(
            f"{len(hits)} ICA data items are at {full!r}: " + ", ".join(sorted(hits)),
            field=field,
            hint="give the data id (fil.… / fol.…) instead of the path",
        )
    if not hits:
        return None
    ((ident, data),) = hits.items()
    details = data.get("details") or {}
    name = details.get("name") or full.rstrip("/").rsplit("/", 1)[-1]
    status = details.get("status")
    return DataItem(ident, str(name), kind == "FOLDER", status if isinstance(status, str) else None)


def check_usable(item: DataItem, path: str, project: str, *, field: str) -> None:
    """SpecError naming the data when a run cannot read it yet (or any more)."""
    if item.status is None or item.status == "AVAILABLE":
        return
    why, fix = _UNUSABLE.get(item.status, (f"its status is {item.status}", "wait until AVAILABLE"))
    raise SpecError(
        f"{path} ({item.id}) in ICA project {project} cannot feed a run: {why}",
        field=field,
        hint=fix,
    )
