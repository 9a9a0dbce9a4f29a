"""The workflow a spec names: a URL the server fetches, or a local file runhub attaches.

WES ``POST /runs``: "The ``workflow_url`` is either an absolute URL to a workflow
file that is accessible by the WES endpoint, or a relative URL corresponding to one
of the files attached using ``workflow_attachment``" (spec, RunWorkflow). A local
file is therefore sent as an attachment and named by its file name.

The language (``workflow_type``) and its version come from the spec's options, or
are read from the file: ``.cwl`` is CWL (version: its ``cwlVersion``), ``.wdl`` is
WDL (version: its ``version`` statement; none means draft-2, per the WDL spec),
``.nf`` is NFL and ``Snakefile``/``.smk`` is SMK (sapporo's names; version from
the options or the server's service-info).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from runhub.errors import SpecError

#: Attachments are read into memory: beyond this, give the server a URL instead.
MAX_ATTACHMENT_BYTES = 64 * 1024 * 1024

_TYPES_BY_SUFFIX = {".cwl": "CWL", ".wdl": "WDL", ".nf": "NFL", ".smk": "SMK"}
_WDL_VERSION = re.compile(r"^\s*version\s+(\S+)", re.MULTILINE)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(text: str) -> bool:
    """True for ``scheme://...`` (http, https, s3, gs, drs, trs, file, ...)."""
    return bool(_URL.match(text))


def is_local(source: str) -> bool:
    """A local path: relative, ``~/...`` or a ``file:`` URI (DESIGN.md §11). Absolute
    paths are the server's (sent as ``file://`` URLs), other URLs are URLs."""
    if source.startswith("file:"):
        return True
    if is_url(source):
        return False
    return not source.startswith("/")


def local_path(source: str) -> Path:
    """The file a local source names (``file:`` URIs and ``~`` resolved)."""
    if source.startswith("file:"):
        return Path(urlsplit(source).path)
    return Path(source).expanduser()


def server_url(source: str) -> str:
    """What the server is told for a non-local source: URLs as given, absolute paths
    as ``file://`` URLs."""
    return source if is_url(source) else Path(source).as_uri()


def type_of(name: str) -> str | None:
    """The workflow language a file name suggests, or None."""
    base = PurePosixPath(urlsplit(name).path if is_url(name) else name).name
    if base == "Snakefile":
        return "SMK"
    return _TYPES_BY_SUFFIX.get(PurePosixPath(base).suffix.lower())


def version_of(kind: str, text: str) -> str | None:
    """The language version a workflow's text declares, or None."""
    if kind == "CWL":
        import yaml

        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError:
            return None
        version = document.get("cwlVersion") if isinstance(document, dict) else None
        return version if isinstance(version, str) else None
    if kind == "WDL":
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        found = _WDL_VERSION.match(lines[0]) if lines else None
        return found.group(1) if found else "draft-2"
    return None


@dataclass(frozen=True, slots=True)
class Attachment:
    """A local file sent as a ``workflow_attachment`` part, under ``name``."""

    name: str
    path: Path

    def read(self) -> bytes:
        return self.path.read_bytes()


def attachment(source: str, name: str | None, *, field: str) -> Attachment:
    """A local file to attach, checked; SpecError naming ``field`` if it cannot be."""
    path = local_path(source)
    if path.is_dir():
        raise SpecError(
            f"{source!r} is a folder; WES attaches files",
            field=field,
            hint="name the files one by one, or give a URL the server can read",
        )
    if not path.is_file():
        raise SpecError(f"no such file: {source}", field=field)
    label = name or path.name
    parts = PurePosixPath(label).parts
    if not parts or ".." in parts or PurePosixPath(label).is_absolute():
        raise SpecError(f"{label!r} is not a relative file name", field=field)
    return Attachment(PurePosixPath(*parts).as_posix(), path)


def check_size(attachments: list[Attachment]) -> None:
    """SpecError if the attachments together are too large to send in one form."""
    total = sum(a.path.stat().st_size for a in attachments)
    if total > MAX_ATTACHMENT_BYTES:
        raise SpecError(
            f"the files to attach add up to {total / 2**20:.0f} MiB, more than "
            f"{MAX_ATTACHMENT_BYTES // 2**20} MiB",
            field="mounts",
            hint="give the server URLs it can read instead of local files",
        )
