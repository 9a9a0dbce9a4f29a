"""pluggy entry point (``[project.entry-points.runhub] ica = "runhub_ica.plugin"``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runhub.hookspecs import hookimpl


@hookimpl
def runhub_register_backends(register: Callable[[type[Any]], Any]) -> None:
    """Register the ``ica`` backend."""
    from runhub_ica.backend import IcaBackend

    register(IcaBackend)
