"""Entry point module (``[project.entry-points.runhub] wes``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runhub.hookspecs import hookimpl


@hookimpl
def runhub_register_backends(register: Callable[[type[Any]], Any]) -> None:
    """Register the WES backend."""
    from runhub_wes.backend import WesBackend

    register(WesBackend)
