"""Relaunch: the same spec as an earlier launch, as a new run linked to it.

The ledger keeps the spec every launch was made with (``Ledger.spec_record``).
A relaunch records its intent before anything is sent, like every launch, with
the launch it repeats as ``previous``; for a run of a batch it is the row's next
attempt (``<row key>@<n>``), so ``status --batch`` and ``batch`` go on with it.

Exactly once holds as for any launch: running the same relaunch again after an
interruption finds the attempt it recorded and finishes it (the platform's
idempotency key, or ``Backend.recover``) instead of launching another; a run
that was already relaunched is not relaunched a second time from the old ref
(relaunch the newest attempt instead).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from runhub.errors import ConfigError

if TYPE_CHECKING:
    from runhub.client import Client
    from runhub.ledger import Launch, Ledger
    from runhub.state import RunStatus


@dataclass(frozen=True)
class Relaunched:
    """The new run, the launch it repeats, and its attempt number (1 outside batches)."""

    status: RunStatus
    previous: Launch
    attempt: int


def relaunch(client: Client, ref: str) -> Relaunched:
    """Launch ``ref``'s spec again (``client`` must keep a ledger)."""
    from runhub.ledger import Intent, attempt_key, attempt_of
    from runhub.spec import RunSpec
    from runhub.tracking import Settling, tracked_launch

    ledger = client.ledger
    if ledger is None:
        raise ConfigError("relaunch needs the ledger: the spec of each launch is kept there")
    old, spec_data = previous_launch(ledger, ref)
    spec = RunSpec.from_data(spec_data, source=f"the ledger's spec of {ref}")
    backend = client.backend(old.backend)
    backend.validate(spec)
    attempt, row_key = 1, None
    if old.batch is not None and old.row_key is not None:
        found = ledger.attempts(old.batch, old.row_key)
        attempt = attempt_of(old.row_key) + 1
        row_key = attempt_key(old.row_key, attempt)
    else:
        found = [old, *ledger.relaunches(old.key)]
    latest = found[-1] if found else old
    record = None
    if latest.key != old.key:
        if latest.ref is not None:
            raise ConfigError(
                f"{ref} was relaunched already, as {latest.ref} ({latest.state or 'unknown'})",
                hint=f"relaunch that one: runhub relaunch {latest.ref}",
            )
        # An earlier relaunch was interrupted before the platform answered: finish it.
        record, attempt = latest, attempt_of(latest.row_key)
    if record is None:
        intent = Intent(old.backend, spec.digest(), old.batch, row_key, spec.name)
        (record,) = ledger.intents([intent])
        ledger.keep_specs([(record.key, spec.to_data(), old.key)])
    driver = client.driver(backend)
    while True:
        try:
            status = driver.run(tracked_launch(backend, spec, record, ledger))
            return Relaunched(status, old, attempt)
        except Settling as settling:  # an interrupted launch may still appear
            time.sleep(settling.wait)


def previous_launch(ledger: Ledger, ref: str) -> tuple[Launch, dict[str, object]]:
    """The ledger's launch of ``ref`` and the spec it was made with (ConfigError if
    the ledger does not have them)."""
    from runhub.backend import RunRef

    text = str(RunRef.parse(ref))
    old = ledger.by_ref(text)
    if old is None:
        raise ConfigError(
            f"no launch of {text} in the ledger",
            hint="relaunch needs the spec runhub launched it with; see `runhub runs`",
        )
    record = ledger.spec_record(old.key)
    if record is None:
        raise ConfigError(
            f"the ledger has no spec for {text} (launched before runhub kept specs)",
            hint="launch the spec again with `runhub launch`",
        )
    return old, record.spec


__all__ = ["Relaunched", "previous_launch", "relaunch"]
