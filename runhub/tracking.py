"""Launches recorded in the ledger: exactly once across retries, crashes and processes.

:func:`tracked_launch` wraps a backend's launch in ledger writes. It is itself an
exchange, so one implementation serves the sync and async drivers alike:

1. the row is *claimed* (:meth:`Ledger.claim`): a row another live launch holds
   is never sent here (:class:`Claimed`: wait, then call again), and a row that has
   its run is re-attached (its current status is returned; for a row another
   process launched while this one waited, the answer that process recorded);
2. a row attempted before without a recorded answer is looked up on the platform
   (``Backend.recover``): the earlier run is adopted if it exists;
3. otherwise the launch is sent with the row's stable key. Each request that may
   create or change the run is recorded first (:meth:`Ledger.sent`), and only
   while the claim is still this launch's; then the answer is recorded.

A platform may still be creating the run of a request sent just before a crash:
``recover`` missing it then proves nothing. Within the backend's
``capabilities.launch_settle`` seconds of the latest such request,
:class:`Settling` is raised instead of launching, and the caller waits and calls
again. A launch that fails before sending anything that could create a run (a
settings error, a failed lookup) leaves no row behind.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from runhub.backend import Backend, Exchange, Operation, as_exchange, is_read_only
from runhub.errors import AmbiguousLaunch, LedgerError, NotYetListed, RunhubError
from runhub.gather import Together
from runhub.ledger.claims import CLAIM_POLL, DEFAULT_LEASE, new_owner

if TYPE_CHECKING:
    from runhub.ledger import Launch, Ledger
    from runhub.spec import RunSpec
    from runhub.state import RunStatus

T = TypeVar("T")

#: POSTs of one row whose answers were lost and whose runs were not listed after
#: them, before the row is left to the user as an ambiguous launch.
MAX_UNLISTED_SENDS = 3


class Settling(Exception):
    """An interrupted launch was not found, but was sent too recently for that to
    mean it created nothing: call again after ``wait`` seconds."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"look again in {wait:.1f} s")
        self.wait = wait


class Claimed(Settling):
    """Another live launch holds the row: call again after ``wait`` seconds, and
    the row will be re-attached (it has its run) or taken over (its holder died)."""

    def __init__(self, wait: float, *, until: float | None = None) -> None:
        super().__init__(wait)
        self.until = until


class InGroup(Exception):
    """The row was sent in a group request (another launch's, since this one began):
    only the group's request can tell whether its run is being created, so it is
    finished through :mod:`runhub.grouplaunch`, never sent on its own."""


def needs_recovery(record: Launch) -> bool:
    """True if an earlier try may have created a run that was never recorded."""
    return record.ref is None and record.attempted_at is not None


def tracked_launch(
    backend: Backend,
    spec: RunSpec,
    record: Launch,
    ledger: Ledger,
    *,
    lease: float = DEFAULT_LEASE,
) -> Operation[RunStatus]:
    """Launch ``spec`` for ledger row ``record`` at most once; returns its status.

    ``lease`` is how long the claim on the row lasts without a request sent
    (see :func:`runhub.ledger.claims.lease_for`).
    """
    return _tracked(backend, spec, record, ledger, lease)


def _tracked(
    backend: Backend, spec: RunSpec, record: Launch, ledger: Ledger, lease: float
) -> Exchange[RunStatus]:
    holding = _Holding(ledger, record.key, new_owner(), lease)
    claim = ledger.claim(record, holding.owner, lease)
    if claim.launched:
        recorded = claim.record.recorded_status()
        assert recorded is not None
        if record.ref is None:  # launched elsewhere since this launch began: its answer
            return recorded
        return (yield from as_exchange(backend.status(recorded.ref)))
    if not claim.mine:
        until = claim.until or time.time()
        raise Claimed(min(CLAIM_POLL, max(0.01, until - time.time())), until=until)
    record = claim.record
    try:
        if record.launch_group and backend.capabilities.group_launch:
            raise InGroup(record.key)
        if record.attempted_at is not None:
            owned = ledger.claimed(backend.name)
            found = yield from holding.forward(
                backend.recover(spec, record.key, since=record.attempted_at, claimed=owned)
            )
            if found is not None:
                ledger.launched(record.key, found)
                holding.ended = True
                return found
            latest = max(record.attempted_at, record.sent_at or 0.0)
            wait = latest + backend.capabilities.launch_settle - time.time()
            if wait > 0:
                raise Settling(wait)
        if not backend.capabilities.http:
            holding.send()  # a backend without HTTP acts as soon as it is called
        try:
            status = yield from holding.forward(
                backend.launch(spec, record.key, batch=record.batch)
            )
        except NotYetListed as unlisted:
            # Not listed yet proves nothing so soon after a lost answer: look again
            # once the platform has settled (the attempt mark sends the next try
            # through recover first), unless this row has been sent often enough.
            if claim.record.attempts + holding.sends >= MAX_UNLISTED_SENDS:
                raise
            raise Settling(unlisted.wait) from unlisted
        except AmbiguousLaunch:
            raise  # outcome unknown: the attempt mark makes the next try look it up first
        except LedgerError:
            raise
        except RunhubError as error:
            if holding.sent_any or record.attempted_at is not None:
                ledger.failed(record.key, str(error))
            else:
                ledger.discard(record.key)  # nothing reached the platform: no row
            holding.ended = True
            raise
        ledger.launched(record.key, status)
        holding.ended = True
        return status
    finally:
        holding.release()


class _Holding:
    """One launch's claim on its row: renewed, and checked, at every request."""

    def __init__(self, ledger: Ledger, key: str, owner: str, lease: float) -> None:
        self.ledger = ledger
        self.key = key
        self.owner = owner
        self.lease = lease
        self.sent_any = False
        #: Requests that may create or change the run, sent under this claim.
        self.sends = 0
        #: The claim ended with the row's answer (recording it releases the claim).
        self.ended = False
        self._renewed = time.monotonic()

    def send(self) -> None:
        """Record a request that may create the run, or raise if the row is lost."""
        if not self.ledger.sent(self.key, self.owner, self.lease):
            raise Claimed(CLAIM_POLL)
        self.sent_any = True
        self.sends += 1
        self._renewed = time.monotonic()

    def keep(self) -> None:
        """Renew the lease when a quarter of it has gone (reads only)."""
        if time.monotonic() - self._renewed < self.lease / 4:
            return
        if not self.ledger.renew(self.key, self.owner, self.lease):
            raise Claimed(CLAIM_POLL)
        self._renewed = time.monotonic()

    def release(self) -> None:
        """End the claim, unless recording the answer did."""
        if self.ended:
            return
        with contextlib.suppress(LedgerError):
            self.ledger.release(self.key, self.owner)

    def forward(self, op: Operation[T]) -> Exchange[T]:
        """Drive ``op``, passing its requests on; each one that is not read-only
        is recorded under the claim before it goes."""
        if not isinstance(op, Generator):
            return op
        inner = cast(Generator[Any, Any, T], op)
        try:
            item = next(inner)
        except StopIteration as stop:
            return cast(T, stop.value)
        while True:
            try:
                if _changes_something(item):
                    self.send()
                else:
                    self.keep()
            except BaseException:
                inner.close()
                raise
            try:
                answer = yield item
            except GeneratorExit:
                inner.close()
                raise
            except BaseException as error:  # the driver throws errors in: pass them on
                try:
                    item = inner.throw(error)
                except StopIteration as stop:
                    return cast(T, stop.value)
                continue
            try:
                item = inner.send(answer)
            except StopIteration as stop:
                return cast(T, stop.value)


def _changes_something(item: Any) -> bool:
    if isinstance(item, Together):
        return any(_changes_something(one) for one in item.requests)
    return not is_read_only(item)
