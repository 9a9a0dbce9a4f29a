"""runhub: launch and track pipeline runs on any platform through one model.

The public API is re-exported here lazily, so that ``import runhub`` (and the CLI's
``--help``) stays fast and pulls in neither httpx nor pydantic until needed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "RunSpec": "runhub.spec",
    "DataMount": "runhub.spec",
    "RunState": "runhub.state",
    "RunStatus": "runhub.state",
    "Backend": "runhub.backend",
    "Capabilities": "runhub.backend",
    "RunRef": "runhub.ref",
    "Output": "runhub.backend",
    "BackendSettings": "runhub.config",
    "hookimpl": "runhub.hookspecs",
    "Client": "runhub.client",
    "AsyncClient": "runhub.aio",
    "launch": "runhub.client",
    "status": "runhub.client",
    "wait": "runhub.client",
    "RetryPolicy": "runhub.policy",
    "RunhubError": "runhub.errors",
    "SpecError": "runhub.errors",
    "ConfigError": "runhub.errors",
    "AuthError": "runhub.errors",
    "NotFound": "runhub.errors",
    "PlatformError": "runhub.errors",
    "RateLimited": "runhub.errors",
    "TransportError": "runhub.errors",
    "AmbiguousLaunch": "runhub.errors",
    "WaitTimeout": "runhub.errors",
    "Unsupported": "runhub.errors",
}

# Written out (not computed from _EXPORTS) so that type checkers see what is exported:
# with mypy --strict, `from runhub import Client` needs the name in a literal __all__.
__all__ = [
    "AmbiguousLaunch",
    "AsyncClient",
    "AuthError",
    "Backend",
    "BackendSettings",
    "Capabilities",
    "Client",
    "ConfigError",
    "DataMount",
    "NotFound",
    "Output",
    "PlatformError",
    "RateLimited",
    "RetryPolicy",
    "RunRef",
    "RunSpec",
    "RunState",
    "RunStatus",
    "RunhubError",
    "SpecError",
    "TransportError",
    "Unsupported",
    "WaitTimeout",
    "__version__",
    "hookimpl",
    "launch",
    "status",
    "wait",
]
if set(__all__) != {*_EXPORTS, "__version__"}:  # pragma: no cover - a maintainer's slip
    raise ImportError("runhub.__all__ and _EXPORTS disagree")

if TYPE_CHECKING:
    from runhub.aio import AsyncClient
    from runhub.backend import Backend, Capabilities, Output
    from runhub.client import Client, launch, status, wait
    from runhub.config import BackendSettings
    from runhub.errors import (
        AmbiguousLaunch,
        AuthError,
        ConfigError,
        NotFound,
        PlatformError,
        RateLimited,
        RunhubError,
        SpecError,
        TransportError,
        Unsupported,
        WaitTimeout,
    )
    from runhub.hookspecs import hookimpl
    from runhub.policy import RetryPolicy
    from runhub.ref import RunRef
    from runhub.spec import DataMount, RunSpec
    from runhub.state import RunState, RunStatus


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runhub' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
