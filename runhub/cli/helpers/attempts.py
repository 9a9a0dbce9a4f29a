"""Which ledger row each samplesheet row launches with: its latest attempt, or a
new one for ``batch --retry-failed``.

A row's first attempt has the row's own key; attempt n (n >= 2) has the key
``<row key>@<n>``, its own run, and its spec recorded with a link to the attempt
it repeats. Re-running a batch goes on with each row's latest attempt, so it
never relaunches a row that has a run; ``--retry-failed`` adds an attempt only
to rows whose latest attempt ended FAILED or CANCELLED, never to a row that
succeeded, is still running, or has an attempt not yet launched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from runhub.batch import BatchPlan
    from runhub.ledger import Ledger

RETRYABLE = ("FAILED", "CANCELLED")


@dataclass(frozen=True)
class Attempts:
    """The row key each plan item launches (or re-attaches) with, and its number."""

    row_keys: list[str]
    numbers: list[int]
    #: Plan indexes that get a new attempt now.
    retried: list[int]


def choose(ledger: Ledger, the_plan: BatchPlan, backend: str, *, retry_failed: bool) -> Attempts:
    """Each row's latest attempt; with ``retry_failed``, a new one (recorded now,
    before anything is sent) for each row whose latest attempt failed or was cancelled."""
    from runhub.ledger import Intent, Launch, attempt_key, attempt_of, row_family

    # One read of the batch, grouped by row (not one query per row: 1000-row sheets).
    latest_of: dict[str, Launch] = {}
    for record in ledger.batch(the_plan.batch_id):
        if record.row_key is None:
            continue
        family = row_family(record.row_key)
        known = latest_of.get(family)
        if known is None or attempt_of(record.row_key) > attempt_of(known.row_key):
            latest_of[family] = record
    keys: list[str] = []
    numbers: list[int] = []
    retried: list[int] = []
    new: list[tuple[int, Intent, str]] = []
    for index, item in enumerate(the_plan.items):
        latest = latest_of.get(item.row_key)
        if latest is None:
            keys.append(item.row_key)
            numbers.append(1)
            continue
        number = attempt_of(latest.row_key)
        if retry_failed and latest.state in RETRYABLE:
            number += 1
            key = attempt_key(item.row_key, number)
            spec = item.spec
            new.append(
                (
                    index,
                    Intent(backend, spec.digest(), the_plan.batch_id, key, spec.name),
                    latest.key,
                )
            )
            retried.append(index)
        else:
            key = latest.row_key or item.row_key
        keys.append(key)
        numbers.append(number)
    if new:
        records = ledger.intents([intent for _, intent, _ in new])
        ledger.keep_specs(
            [
                (record.key, the_plan.items[index].spec.to_data(), previous)
                for record, (index, _, previous) in zip(records, new, strict=True)
            ]
        )
    return Attempts(keys, numbers, retried)


__all__ = ["RETRYABLE", "Attempts", "choose"]
