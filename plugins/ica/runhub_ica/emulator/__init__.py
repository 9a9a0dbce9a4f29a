"""An in-memory ICA v2 REST API for tests and demos.

In-process::

    from runhub.testing.emulator import Clock, mock_transport
    from runhub_ica.emulator import IcaEmulator
    app = IcaEmulator(Clock())  # IcaEmulator(Clock(), variance=True): documented variance
    transport = mock_transport(app)

As a server: ``python -m runhub_ica.emulator --port 8080 [--variance]`` (prints its URL).
Needs the ``emulator`` extra (libica) for schema validation; the names below load it
only when first used, so a missing extra is one clear ImportError.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runhub_ica.emulator import seed
from runhub_ica.emulator.variance import Variance

if TYPE_CHECKING:
    from runhub_ica.emulator.app import IcaEmulator
    from runhub_ica.emulator.protocol import Problem

INSTALL_HINT = "pip install 'runhub-ica[emulator]'"


def missing_extra() -> str | None:
    """None if the emulator can run here, else a one-line message saying how to fix it."""
    try:
        import libica.openapi.v3.models  # noqa: F401
    except ImportError:
        return f"the ICA emulator needs libica, its schema validator: {INSTALL_HINT}"
    return None


def __getattr__(name: str) -> Any:
    if name == "IcaEmulator":
        problem = missing_extra()
        if problem:
            raise ImportError(problem)
        from runhub_ica.emulator.app import IcaEmulator

        return IcaEmulator
    if name == "Problem":
        from runhub_ica.emulator.protocol import Problem

        return Problem
    raise AttributeError(name)


__all__ = ["INSTALL_HINT", "IcaEmulator", "Problem", "Variance", "missing_extra", "seed"]
