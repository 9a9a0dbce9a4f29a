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

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runhub.backend import is_read_only

if TYPE_CHECKING:
    import httpx

    from runhub.backend import Exchange, Operation
    from runhub.errors import RunhubError
    from runhub.spec import RunSpec

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


def check(client: Any, spec: RunSpec, backend: str) -> list[httpx.Request]:
    """Pre-flight ``spec`` on ``backend`` with a sync :class:`~runhub.client.Client`;
    returns the requests sent (all read-only). Raises what the launch would."""
    outcome = check_all(client, [spec], backend)
    if outcome.errors[0] is not None:
        raise outcome.errors[0]
    return outcome.lookups


@dataclass
class Checked:
    """What pre-flight found: one error (or None) per spec, and the requests it sent."""

    errors: list[RunhubError | None]
    lookups: list[httpx.Request]
    #: Requests sent, retries included.
    sent: int


def check_all(client: Any, specs: Sequence[RunSpec], backend: str) -> Checked:
    """Pre-flight every spec, one after another, sharing the backend's caches: the
    lookups of a samplesheet of one pipeline cost one request per distinct value."""
    from runhub.dryrun import DryRunDriver
    from runhub.errors import RunhubError

    chosen = client.backend(backend)
    driver = None
    if chosen.capabilities.http:
        # The dry-run driver refuses to send anything that is not read-only: a
        # pre-flight that tried would stop there, never create anything.
        driver = DryRunDriver(client.http, chosen, client.policy, client.redact)
    errors: list[RunhubError | None] = []
    for spec in specs:
        try:
            chosen.validate(spec)
            if driver is None:
                chosen.preflight(spec)
            else:
                driver.dry_run(chosen.preflight(spec))
        except RunhubError as error:
            errors.append(error)
        else:
            errors.append(None)
    if driver is None:
        return Checked(errors, [], 0)
    return Checked(errors, list(driver.lookups), driver.sent)


__all__ = ["PREFLIGHT_KEY", "Checked", "check", "check_all", "until_mutating"]
