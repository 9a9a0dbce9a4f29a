"""Pre-flight: the read-only platform lookups a launch would make, and nothing else.

The default a backend inherits (:func:`until_mutating`) drives the backend's own
launch exchange and forwards its requests for as long as they only read
(``runhub.backend.is_read_only``); at the first mutating request it stops, and that
request is never sent. It is the same rule as ``launch --dry-run``, as an exchange:
any driver (sync, async, dry-run) can run it, so ``batch`` checks every row on the
platform before anything launches, and lookups a backend caches (pipelines, data
paths, storages) cost one request per distinct value, not one per row.

A backend whose launch makes no lookups (Code Ocean POSTs the run at once)
overrides :meth:`runhub.backend.Backend.preflight` with real read-only checks.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any

from runhub.backend import is_read_only

if TYPE_CHECKING:
    from runhub.backend import Exchange, Operation

#: The launch key a pre-flight passes to ``launch``: the launch never gets that far.
PREFLIGHT_KEY = "preflight-0000000000000000000000000000"


def until_mutating(op: Operation[Any]) -> Exchange[None]:
    """Run ``op``'s read-only requests; stop (without sending it) at the first other one."""
    if not isinstance(op, Generator):
        return None
    gen: Generator[Any, Any, Any] = op
    try:
        request = next(gen)
        while True:
            if not _reads(request):
                return None
            try:
                response = yield request
            except BaseException as error:  # the driver's error, thrown where it happened
                request = gen.throw(error)
            else:
                request = gen.send(response)
    except StopIteration:
        return None
    finally:
        gen.close()


def _reads(item: Any) -> bool:
    """True for a read-only request, or a gather round made only of them."""
    from runhub.gather import Together

    if isinstance(item, Together):
        return all(_reads(r) for r in item.requests)
    return is_read_only(item)


__all__ = ["PREFLIGHT_KEY", "until_mutating"]
