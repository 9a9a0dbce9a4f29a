"""``GET /service-info`` (spec ``ServiceInfo``): what a server runs, checked before a launch.

Read leniently, because servers differ: toil names types in lower case (``cwl``),
wes-service reports engine versions as plain text rather than
``WorkflowEngineVersion`` objects, sapporo keys ``default_workflow_engine_parameters``
by engine. A server that lists nothing for a field is not checked on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runhub.errors import SpecError
from runhub_wes.translate import OPTIONS


def _versions(value: Any, key: str) -> list[str]:
    if isinstance(value, Mapping):
        value = value.get(key)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


@dataclass(frozen=True)
class ServiceInfo:
    """The parts of a server's ServiceInfo that runhub uses (``raw`` keeps all of it)."""

    workflow_types: dict[str, list[str]] = field(default_factory=dict)
    engines: dict[str, list[str]] = field(default_factory=dict)
    wes_versions: list[str] = field(default_factory=list)
    filesystem_protocols: list[str] = field(default_factory=list)
    name: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, body: Any) -> ServiceInfo:
        """From the JSON body; anything malformed is left out, never an error."""
        if not isinstance(body, Mapping):
            return cls()
        types = body.get("workflow_type_versions")
        engines = body.get("workflow_engine_versions")
        name = body.get("name")
        return cls(
            workflow_types={
                str(k): _versions(v, "workflow_type_version")
                for k, v in (types.items() if isinstance(types, Mapping) else ())
            },
            engines={
                str(k): _versions(v, "workflow_engine_version")
                for k, v in (engines.items() if isinstance(engines, Mapping) else ())
            },
            wes_versions=_versions(body.get("supported_wes_versions"), ""),
            filesystem_protocols=_versions(body.get("supported_filesystem_protocols"), ""),
            name=name if isinstance(name, str) else None,
            raw=dict(body),
        )

    def versions_of(self, workflow_type: str) -> list[str] | None:
        """The versions listed for a type (matched case-insensitively), or None if the
        type is not listed."""
        for listed, versions in self.workflow_types.items():
            if listed.casefold() == workflow_type.casefold():
                return versions
        return None

    def resolve_version(self, workflow_type: str, version: str | None) -> str:
        """Check the type (and version) against what the server lists; fill in the
        version when the spec has none and the server lists exactly one."""
        if self.workflow_types:
            versions = self.versions_of(workflow_type)
            if versions is None:
                raise SpecError(
                    f"this WES server does not run {workflow_type} workflows "
                    f"(it runs {', '.join(sorted(self.workflow_types))})",
                    field=f"{OPTIONS}.workflow_type",
                )
            if version is None and len(versions) == 1:
                return versions[0]
            if version is not None and versions and version not in versions:
                raise SpecError(
                    f"this WES server runs {workflow_type} {', '.join(versions)}, not {version}",
                    field=f"{OPTIONS}.workflow_type_version",
                )
        if version is None:
            listed = self.versions_of(workflow_type) or []
            raise SpecError(
                f"the {workflow_type} version of the workflow is not known",
                field=f"{OPTIONS}.workflow_type_version",
                hint=f"set it (this server lists: {', '.join(listed) or 'nothing'})",
            )
        return version

    def check_engine(self, engine: str | None) -> None:
        """SpecError if the server lists its engines and ``engine`` is not one of them."""
        if engine and self.engines and engine not in self.engines:
            raise SpecError(
                f"this WES server has no workflow engine {engine!r} "
                f"(it has {', '.join(sorted(self.engines))})",
                field=f"{OPTIONS}.workflow_engine",
            )
