"""``lambda_handler``: an AWS Lambda function fed by SNS, SQS or EventBridge.

The seed document's architecture (ICA subscription -> SNS topic -> Lambda), with
runhub's rules: the function reads its runhub configuration from its environment
(``ICAV2_*``, ``RUNHUB_HOME`` / ``RUNHUB_CONFIG`` / ``RUNHUB_PROFILE``), applies each
record to the ledger, then calls the default listeners (chains). docs/events.md says
how to deploy it.

- SQS-triggered: records that cannot be read or applied are returned as
  ``batchItemFailures`` (turn on ``ReportBatchItemFailures`` in the event source
  mapping), so SQS redelivers only them and its redrive policy takes the unreadable
  ones to the dead-letter queue; the others are deleted by Lambda.
- SNS- or EventBridge-triggered (asynchronous invocation): any such record makes the
  invocation fail after the others are applied, so Lambda retries it and then sends it
  to the function's on-failure destination or dead-letter queue. Applying a record twice
  has one effect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from runhub.errors import RunhubError
from runhub.events.apply import EventSink, Listener
from runhub.events.envelopes import message_id
from runhub.events.listeners import default_listeners

if TYPE_CHECKING:
    from runhub.aio import AsyncClient

log = logging.getLogger("runhub.events")


class RecordsFailed(RunhubError):
    """Some records of an SNS or EventBridge invocation were not applied."""


def lambda_handler(event: Any, context: Any = None) -> dict[str, Any]:
    """The Lambda entry point (handler ``runhub.events.lambda_handler``)."""
    return asyncio.run(handle_invocation(event))


async def handle_invocation(
    event: Any,
    *,
    client: AsyncClient | None = None,
    listeners: Sequence[Listener] | None = None,
) -> dict[str, Any]:
    """Apply one invocation's records; what :func:`lambda_handler` returns.

    ``client`` defaults to one configured from the environment (closed afterwards),
    ``listeners`` to :func:`~runhub.events.listeners.default_listeners`.
    """
    from runhub.aio import AsyncClient

    own = client is None
    active = client or AsyncClient()
    try:
        sink = EventSink(active, default_listeners() if listeners is None else listeners)
        return await _records(sink, event)
    finally:
        if own:
            await active.aclose()


async def _records(sink: EventSink, event: Any) -> dict[str, Any]:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list):
        records = [event]  # an EventBridge rule, or a direct invocation: one message
    from_sqs = any(isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records)
    failed: list[str] = []
    for index, record in enumerate(records):
        ident = (message_id(record) if isinstance(record, Mapping) else None) or f"#{index}"
        try:
            handled = await sink.handle(record, ident)
        except Exception as error:  # the ledger or a listener: this record is retried
            log.warning("event record %s not applied: %s", ident, error)
            failed.append(ident)
            continue
        if not handled.done:
            log.warning("event record %s cannot be read: %s", ident, handled.reason)
            failed.append(ident)
    counts = {outcome.value: n for outcome, n in sink.counts.items() if n}
    if from_sqs:
        return {"batchItemFailures": [{"itemIdentifier": i} for i in failed], "counts": counts}
    if failed:
        raise RecordsFailed(
            f"{len(failed)} of {len(records)} records not applied ({', '.join(failed)}); "
            "see the log for why"
        )
    return {"counts": counts}


__all__ = ["RecordsFailed", "handle_invocation", "lambda_handler"]
