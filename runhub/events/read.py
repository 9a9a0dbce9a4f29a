"""One message -> a status event: envelopes off, then the backend whose message it is.

Each registered backend is asked through ``Backend.parse_event`` (a classmethod: no
settings, no I/O), so the core never imports a plugin and a platform's message format
stays in its plugin (ICA: ``runhub_ica.events``).
"""

from __future__ import annotations

from typing import Any

from runhub.events.envelopes import unwrap
from runhub.events.model import Ignored, StatusEvent, Unreadable
from runhub.plugins import Registry


def read(message: Any, plugins: Registry) -> StatusEvent | Ignored:
    """The status event in ``message`` (text or data, in any envelope).

    :class:`Ignored` for a platform's message that carries no run status;
    :class:`Unreadable` when no installed backend reads it.
    """
    inner = unwrap(message)
    for info in plugins.backends.values():
        found = info.cls.parse_event(inner)
        if found is not None:
            return found
    keys = ", ".join(str(k)[:40] for k in sorted(inner)[:6]) or "none"
    raise Unreadable(f"no installed backend reads this message (its keys: {keys})")


__all__ = ["read"]
