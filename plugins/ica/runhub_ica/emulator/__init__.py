"""An in-memory ICA v2 REST API for tests and demos.

In-process::

    from runhub.testing.emulator import Clock, mock_transport
    from runhub_ica.emulator import IcaEmulator
    app = IcaEmulator(Clock())
    transport = mock_transport(app)

As a server: ``python -m runhub_ica.emulator --port 8080`` (prints its URL).
Needs the ``emulator`` extra (libica) for schema validation.
"""

from __future__ import annotations

from runhub_ica.emulator import seed
from runhub_ica.emulator.app import IcaEmulator
from runhub_ica.emulator.protocol import Problem

__all__ = ["IcaEmulator", "Problem", "seed"]
