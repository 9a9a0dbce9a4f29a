"""Test helpers for runhub backends and plugin authors.

- :class:`BackendConformance` (:mod:`runhub.testing.conformance`): the test class
  every backend subclasses; needs pytest.
- :mod:`runhub.testing.emulator`: serve an emulator in-process or over HTTP, with
  fault injection and a scaled clock.

Names are imported lazily, so ``import runhub.testing`` needs neither pytest nor httpx.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "BackendConformance": "runhub.testing.conformance",
    "FUTURE_STATE": "runhub.testing.conformance",
    "Clock": "runhub.testing.emulator",
    "EmulatorServer": "runhub.testing.emulator",
    "FaultPlan": "runhub.testing.emulator",
    "mock_transport": "runhub.testing.emulator",
}

__all__ = [
    "FUTURE_STATE",
    "BackendConformance",
    "Clock",
    "EmulatorServer",
    "FaultPlan",
    "mock_transport",
]

if TYPE_CHECKING:
    from runhub.testing.conformance import FUTURE_STATE, BackendConformance
    from runhub.testing.emulator import Clock, EmulatorServer, FaultPlan, mock_transport


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'runhub.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
