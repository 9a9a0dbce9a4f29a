"""The one pluggy hook a runhub plugin implements.

A plugin module (registered under the ``runhub`` entry-point group) does::

    from runhub.hookspecs import hookimpl

    @hookimpl
    def runhub_register_backends(register):
        register(MyBackend)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from runhub.backend import Backend

PROJECT = "runhub"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def runhub_register_backends(register: Callable[[type[Backend]], Any]) -> None:
    """Register backend classes by calling ``register(BackendClass)`` for each."""
