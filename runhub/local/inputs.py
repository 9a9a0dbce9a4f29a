"""What a local run starts from: the pipeline's ``run`` and the mounts' sources.

Both checks run in ``validate`` (before anything starts) and again at launch.
Relative paths are relative to the current working directory.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from runhub.errors import SpecError
from runhub.spec import RunSpec


def entrypoint(pipeline: str) -> Path:
    """The executable ``run`` of a pipeline directory, or a SpecError saying what is wrong."""
    folder = Path(pipeline).expanduser()
    if not folder.exists():
        raise SpecError(
            f"no pipeline directory {pipeline!r} (from {Path.cwd()})",
            field="pipeline",
            hint="give a directory holding an executable run; relative paths are "
            "relative to the current directory",
        )
    if not folder.is_dir():
        raise SpecError(f"{pipeline!r} is not a directory", field="pipeline")
    for candidate in (folder / "run", folder / "code" / "run"):
        if candidate.is_file():
            if not os.access(candidate, os.X_OK):
                raise SpecError(
                    f"{candidate} is not executable",
                    field="pipeline",
                    hint=f"chmod +x {candidate}",
                )
            return candidate.resolve()
    raise SpecError(
        f"{pipeline!r} has no run script (looked for run and code/run)",
        field="pipeline",
        hint="add an executable file called run",
    )


def mount_targets(spec: RunSpec) -> dict[str, Path]:
    """``data/`` path -> absolute source for each mount; SpecError on a bad mount."""
    targets: dict[str, Path] = {}
    for index, mount in enumerate(spec.mounts):
        source = Path(mount.source).expanduser()
        if not source.exists():
            raise SpecError(
                f"no such file or directory {mount.source!r} (from {Path.cwd()})",
                field=f"mounts.{index}.source",
                hint="local mounts are paths to files or folders on this machine",
            )
        target = PurePosixPath(mount.path) if mount.path else PurePosixPath(source.resolve().name)
        parts = target.parts
        if target.is_absolute() or not parts or ".." in parts:
            raise SpecError(
                f"{mount.path!r} must be a relative path inside data/, without '..'",
                field=f"mounts.{index}.path",
            )
        name = target.as_posix()
        if name in targets:
            raise SpecError(
                f"two mounts land on data/{name}",
                field=f"mounts.{index}.path",
                hint="give each mount its own path",
            )
        targets[name] = source.resolve()
    return targets
