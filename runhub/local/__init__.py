"""The built-in ``local`` backend: runs capsule-style pipeline directories here.

Registered like any external plugin; the backend module itself is imported only
when the hook runs, so the supervisor process (which imports this package) stays
light.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runhub.hookspecs import hookimpl

if TYPE_CHECKING:
    from runhub.backend import Backend


@hookimpl
def runhub_register_backends(register: Callable[[type[Backend]], Any]) -> None:
    """Register :class:`~runhub.local.backend.LocalBackend`."""
    from runhub.local.backend import LocalBackend

    register(LocalBackend)
