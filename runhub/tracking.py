"""Launches recorded in the ledger: exactly once across retries and crashes.

:func:`tracked_launch` wraps a backend's launch in ledger writes. It is itself an
exchange, so one implementation serves the sync and async drivers alike:

1. a row already launched is re-attached (its current status is returned);
2. a row attempted before without a recorded answer is looked up on the platform
   (``Backend.recover``): the earlier run is adopted if it exists;
3. otherwise the attempt is recorded, the launch is sent with the row's stable
   key, and the answer is recorded.

A platform may still be creating the run of a request sent just before the crash:
``recover`` missing it then proves nothing. Within the backend's
``capabilities.launch_settle`` seconds of the earlier attempt, :class:`Settling` is
raised instead of launching, and the caller waits and calls again.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from runhub.backend import Backend, Exchange, Operation, as_exchange
from runhub.errors import AmbiguousLaunch, RunhubError

if TYPE_CHECKING:
    from runhub.ledger import Launch, Ledger
    from runhub.spec import RunSpec
    from runhub.state import RunStatus


class Settling(Exception):
    """An interrupted launch was not found, but was sent too recently for that to
    mean it created nothing: call again after ``wait`` seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"look again in {wait:.1f} s")
        self.wait = wait


def needs_recovery(record: Launch) -> bool:
    """True if an earlier try may have created a run that was never recorded."""
    return record.ref is None and record.attempted_at is not None


def tracked_launch(
    backend: Backend, spec: RunSpec, record: Launch, ledger: Ledger
) -> Operation[RunStatus]:
    """Launch ``spec`` for ledger row ``record`` at most once; returns its status."""
    return _tracked(backend, spec, record, ledger)


def _tracked(
    backend: Backend, spec: RunSpec, record: Launch, ledger: Ledger
) -> Exchange[RunStatus]:
    ref = record.run_ref()
    if ref is not None:
        return (yield from as_exchange(backend.status(ref)))
    if record.attempted_at is not None:
        found = yield from as_exchange(
            backend.recover(
                spec, record.key, since=record.attempted_at, claimed=ledger.claimed(backend.name)
            )
        )
        if found is not None:
            ledger.launched(record.key, found)
            return found
        wait = record.attempted_at + backend.capabilities.launch_settle - time.time()
        if wait > 0:
            raise Settling(wait)
    ledger.attempt(record.key)
    try:
        status = yield from as_exchange(backend.launch(spec, record.key, batch=record.batch))
    except AmbiguousLaunch:
        raise  # outcome unknown: the attempt mark makes the next try look it up first
    except RunhubError as error:
        ledger.failed(record.key, str(error))
        raise
    ledger.launched(record.key, status)
    return status
