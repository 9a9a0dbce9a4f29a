"""Entry point module (``[project.entry-points.runhub] codeocean``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from runhub.hookspecs import hookimpl


@hookimpl
def runhub_register_backends(register: Callable[[type[Any]], Any]) -> None:
    """Register the Code Ocean backend."""
    from runhub_codeocean.backend import CodeOceanBackend

    register(CodeOceanBackend)
