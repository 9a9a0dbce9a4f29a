"""Which mount sources are paths on this machine, and what they hold (DESIGN.md §11).

The rule, the same for every backend: a source is local when it is

- a ``file:`` URI (``file:/data/reads.fq.gz``, ``file:///data/reads.fq.gz``),
- ``~`` or ``~/…``, or
- a relative path: ``./x``, ``../x``, or any text holding a ``/`` that neither starts
  with one nor with a URI scheme (``fastqs/S1_R1.fq.gz``).

An absolute path stays what it is on the platform (an ICA project path), and a bare
word (``reads.fq.gz``) stays a platform reference (it may be an id): nothing is
guessed. Relative paths are relative to the current directory, as for the ``local``
backend. Every problem with what a local source holds is a :class:`SpecError` naming
the mount, found before anything is uploaded.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from runhub.errors import SpecError
from runhub.spec import RunSpec
from runhub.transfer.model import LocalFile, LocalTree

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
HINT = (
    "local mounts are paths on this machine; relative paths are relative to the current directory"
)


def local_path(source: str) -> Path | None:
    """The local path ``source`` names, or None when it is a platform reference."""
    if source.startswith("file:"):
        parts = urlsplit(source)
        if parts.netloc not in ("", "localhost"):
            return None
        return Path(unquote(parts.path) or ".")
    if source == "~" or source.startswith("~/"):
        return Path(source).expanduser()
    if source.startswith("/") or _SCHEME.match(source):
        return None
    if source in (".", "..") or source.startswith(("./", "../")) or "/" in source:
        return Path(source)
    return None


def is_local(source: str) -> bool:
    """True if ``source`` is a path on this machine (see the module docstring)."""
    return local_path(source) is not None


def local_mounts(spec: RunSpec) -> list[int]:
    """Indexes of the spec's mounts whose source is local."""
    return [i for i, m in enumerate(spec.mounts) if is_local(m.source)]


def examine(source: str, field: str | None = None) -> LocalTree:
    """What the local mount ``source`` holds; SpecError when it cannot be uploaded."""
    path = local_path(source)
    if path is None:
        raise SpecError(f"{source!r} is not a local path", field=field, hint=HINT)
    return _examine(path, source, field)


def examine_path(text: str) -> LocalTree:
    """What a path given as a local path (a command-line argument) holds."""
    path = local_path(text)
    return _examine(path if path is not None else Path(text), text, None)


def _examine(path: Path, source: str, field: str | None) -> LocalTree:
    if source.endswith("/") and path.is_file():
        raise SpecError(
            f"{source!r} is a file, but the trailing '/' asks for a folder",
            field=field,
            hint="drop the trailing '/'",
        )
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SpecError(
            f"no such file or folder {source!r} (from {Path.cwd()})", field=field, hint=HINT
        ) from None
    except OSError as exc:
        raise SpecError(f"cannot read {source!r}: {exc.strerror}", field=field) from None
    root = path.resolve()
    if stat.S_ISDIR(info.st_mode):
        files = tuple(_walk(root, source, field))
        if not files:
            raise SpecError(
                f"the folder {source!r} holds no files; there is nothing to upload", field=field
            )
        return LocalTree(source, root, True, files)
    return LocalTree(source, root, False, (_file(root, root.name, source, field),))


def _file(path: Path, name: str, source: str, field: str | None) -> LocalFile:
    try:
        info = path.stat()
    except OSError as exc:
        raise SpecError(
            f"cannot read {path} (in {source!r}): {exc.strerror}", field=field
        ) from None
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(
            f"{path} (in {source!r}) is not a regular file (a pipe or device cannot be uploaded)",
            field=field,
        )
    if not os.access(path, os.R_OK):
        raise SpecError(
            f"cannot read {path} (in {source!r}): permission denied",
            field=field,
            hint=f"check its permissions (chmod u+r {path})",
        )
    return LocalFile(path, name, info.st_size, info.st_mtime_ns)


def _walk(root: Path, source: str, field: str | None) -> list[LocalFile]:
    found: list[LocalFile] = []
    for folder, dirs, names in os.walk(root, onerror=_raise(source, field)):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            relative = PurePosixPath(path.relative_to(root).as_posix())
            found.append(_file(path, relative.as_posix(), source, field))
    return found


def _raise(source: str, field: str | None) -> Callable[[OSError], None]:
    def fail(exc: OSError) -> None:
        raise SpecError(
            f"cannot read {exc.filename} (in {source!r}): {exc.strerror}", field=field
        ) from None

    return fail


def check_mounts(spec: RunSpec) -> list[tuple[int, LocalTree]]:
    """Every local mount of ``spec`` examined (SpecError on the first bad one)."""
    return [(i, examine(spec.mounts[i].source, f"mounts.{i}.source")) for i in local_mounts(spec)]
