"""RunSpec -> the JSON body of ``POST /api/v1/computations`` (pure, no I/O).

The body equals the official SDK's ``RunParams(...).to_dict()`` for the same run,
minus the nulls the SDK sends for unset fields. Every check that needs no request
happens here, so ``validate`` and ``launch`` share it. Kept fast on purpose (plain
dicts, no models): batches translate thousands of specs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from runhub.errors import SpecError, Unsupported
from runhub.spec import RunSpec

BACKEND = "codeocean"
KINDS = ("capsule", "pipeline")
#: Keys accepted under ``options.codeocean``.
OPTION_KEYS = ("kind", "nextflow_profile", "resume_run_id", "min_server_version")


@dataclass(frozen=True, slots=True)
class Launch:
    """What to send: ``kind`` and ``target`` (capsule or pipeline id) and the body."""

    kind: Literal["capsule", "pipeline"]
    target: str
    body: dict[str, Any]
    #: Extra headers for the launch request (``Min-Server-Version`` when asked for).
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def route(self) -> str:
        """The collection the target lives in: ``capsules`` or ``pipelines``."""
        return "capsules" if self.kind == "capsule" else "pipelines"


def text(value: Any) -> str:
    """One parameter value as Code Ocean wants it: a string (booleans ``true``/``false``)."""
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    if isinstance(value, list | tuple):
        # Code Ocean has no multi-value parameters: a list becomes one comma-separated value.
        return ",".join(text(item) for item in value)
    return str(value)


def _ordered(values: list[Any]) -> list[str]:
    return [text(v) for v in values]


def _named(values: Mapping[str, Any]) -> list[dict[str, str]]:
    return [{"param_name": name, "value": text(v)} for name, v in values.items()]


def _options(spec: RunSpec) -> Mapping[str, Any]:
    options = spec.options.get(BACKEND)
    if not options:
        return {}
    for key in options:
        if key not in OPTION_KEYS:
            raise SpecError(
                "unknown option",
                field=f"options.{BACKEND}.{key}",
                hint="known options: " + ", ".join(OPTION_KEYS),
            )
    for key in ("nextflow_profile", "resume_run_id", "min_server_version"):
        value = options.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise SpecError("expected a non-empty string", field=f"options.{BACKEND}.{key}")
    return options


def _version(value: int | str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SpecError(
            f"Code Ocean versions are whole numbers, got {value!r}",
            field="version",
            hint="e.g. version: 2 (the capsule or pipeline release number)",
        )
    return value


def _unsupported(spec: RunSpec) -> None:
    if spec.tags:
        raise Unsupported(
            "Code Ocean runs have no tags (field 'tags')",
            hint="use 'name' to label the run; runhub renames the run after launch",
        )
    if spec.outputs is not None:
        raise Unsupported(
            "Code Ocean keeps results with the computation; 'outputs' cannot choose where",
            hint="list and download them with `runhub outputs`, or capture them as a data asset",
        )


def translate(spec: RunSpec) -> Launch:
    """The launch request for ``spec``; raises SpecError/Unsupported, never does I/O."""
    _unsupported(spec)
    options = _options(spec)
    kind = options.get("kind", "capsule")
    if kind not in KINDS:
        raise SpecError(
            f"expected 'capsule' or 'pipeline', got {kind!r}", field=f"options.{BACKEND}.kind"
        )
    target = spec.pipeline
    if "/" in target or any(c.isspace() for c in target):
        raise SpecError(
            f"{target!r} is not a Code Ocean {kind} id",
            field="pipeline",
            hint=f"use the {kind}'s id as shown in its URL or metadata",
        )
    body: dict[str, Any] = {f"{kind}_id": target}
    if spec.version is not None:
        body["version"] = _version(spec.version)
    resume = options.get("resume_run_id")
    if resume:
        body["resume_run_id"] = resume
    profile = options.get("nextflow_profile")
    if profile:
        if kind != "pipeline":
            raise SpecError(
                "nextflow_profile applies to pipelines only",
                field=f"options.{BACKEND}.nextflow_profile",
                hint=f"set options.{BACKEND}.kind: pipeline if {target} is a pipeline",
            )
        body["nextflow_profile"] = profile
    if spec.mounts:
        assets = []
        for index, mount in enumerate(spec.mounts):
            if mount.input is not None:
                raise Unsupported(
                    f"mounts.{index}.input: Code Ocean feeds data by mount path, not by input name",
                    hint="drop 'input' and set 'path' to the mount the capsule expects",
                )
            item = {"id": mount.source}
            if mount.path:
                item["mount"] = mount.path
            assets.append(item)
        body["data_assets"] = assets
    params = spec.parameters
    if params:
        if isinstance(params, list):
            body["parameters"] = _ordered(params)
        else:
            body["named_parameters"] = _named(params)
    if spec.processes:
        if kind != "pipeline":
            raise SpecError(
                "per-process parameters need a pipeline",
                field="processes",
                hint=f"set options.{BACKEND}.kind: pipeline, or move them to 'parameters'",
            )
        processes = []
        for name, values in spec.processes.items():
            process: dict[str, Any] = {"name": name}
            if values:
                if isinstance(values, list):
                    process["parameters"] = _ordered(values)
                else:
                    process["named_parameters"] = _named(values)
            processes.append(process)
        body["processes"] = processes
    wanted = options.get("min_server_version")
    headers = {"Min-Server-Version": wanted} if wanted else {}
    return Launch(kind=kind, target=target, body=body, headers=headers)
