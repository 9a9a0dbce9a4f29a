"""Effective settings per backend and where each value comes from (``config show``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runhub.config import BackendSettings

MASK = "***"


@dataclass(frozen=True)
class Setting:
    """One field of one backend's settings."""

    backend: str
    field: str
    value: Any
    source: str  # flag | env NAME | profile NAME | default
    secret: bool

    def shown(self) -> Any:
        """The value as printed: secrets masked once set."""
        if self.secret and self.value not in (None, ""):
            return MASK
        return self.value

    def to_dict(self) -> dict[str, Any]:
        """The ``config show -o json`` shape of one setting."""
        return {
            "backend": self.backend,
            "field": self.field,
            "value": self.shown(),
            "source": self.source,
            "secret": self.secret,
        }


def _is_secret(info: Any) -> bool:
    return "SecretStr" in repr(info.annotation)


def effective(
    backend: str,
    model: type[BackendSettings],
    *,
    flags: Mapping[str, Any],
    profile: Mapping[str, Any],
    profile_name: str,
) -> list[Setting]:
    """Each field's value by precedence flag > env > profile > default; a name the
    backend does not have is a ConfigError saying which was meant."""
    from runhub.config import check_names

    check_names(model, flags, backend, "-S setting")
    check_names(model, profile, backend, "profile setting")
    environ = {k.lower(): (k, v) for k, v in os.environ.items()}
    found = []
    for name, info in model.model_fields.items():
        secret = _is_secret(info)
        if name in flags:
            found.append(Setting(backend, name, flags[name], "flag", secret))
            continue
        hit = next(
            (environ[n.lower()] for n in model.env_names(name) if n.lower() in environ), None
        )
        if hit is not None:
            found.append(Setting(backend, name, hit[1], f"env {hit[0]}", secret))
        elif name in profile:
            source = f"profile {profile_name}"
            found.append(Setting(backend, name, profile[name], source, secret))
        else:
            default: Any = None
            if not info.is_required():
                default = info.get_default(call_default_factory=True)
            found.append(Setting(backend, name, default, "default", secret))
    return found
