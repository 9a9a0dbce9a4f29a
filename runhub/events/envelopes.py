"""Unwrap the envelopes a notification travels in, down to the platform's own message.

Envelopes read (reference/ica-events.md; AWS's documented shapes):

- SNS: ``{"Type": "Notification", "MessageId", "Message": "<json text>", ...}``, and a
  Lambda's SNS record ``{"EventSource": "aws:sns", "Sns": {...}}``;
- SQS: a Lambda's SQS record ``{"eventSource": "aws:sqs", "messageId", "body"}``, or
  the ``Body`` text ReceiveMessage gives; an SNS topic subscribed by an SQS queue
  wraps the SNS envelope inside the body (unless raw delivery is on): unwrapped too;
- EventBridge: ``{"detail-type", "source", "detail": {...}}``, the message being the
  ``detail`` itself or, through an EventBridge Pipe as OrcaBus does, ``detail["ica-event"]``;
- bare: the platform's message itself (a webhook body, a replay file).

A message is a JSON object; anything else is :class:`~runhub.events.model.Unreadable`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runhub.events.model import Unreadable

#: How deep envelopes may nest (SNS in SQS in a Lambda record is three).
MAX_DEPTH = 5
#: Keys of an EventBridge detail that hold the wrapped platform message.
DETAIL_KEYS = ("ica-event", "icaEvent", "event")


def loads(text: str | bytes) -> Any:
    """JSON text as data, or :class:`Unreadable` saying where it broke."""
    try:
        return json.loads(text)
    except ValueError as error:
        raise Unreadable(f"not JSON ({error})") from None


def unwrap(message: Any, depth: int = 0) -> dict[str, Any]:
    """The platform message inside ``message`` (text or data), envelopes removed."""
    if depth > MAX_DEPTH:
        raise Unreadable(f"envelopes nested more than {MAX_DEPTH} deep")
    if isinstance(message, str | bytes):
        message = loads(message)
    if not isinstance(message, Mapping):
        raise Unreadable(f"expected a JSON object, got {type(message).__name__}")
    inner = _inside(message)
    if inner is None:
        return dict(message)
    return unwrap(inner, depth + 1)


def _inside(message: Mapping[str, Any]) -> Any:
    """What ``message`` wraps, if it is an envelope; None if it is the message itself."""
    if isinstance(message.get("Sns"), Mapping):  # Lambda SNS record
        return message["Sns"]
    if message.get("Type") == "Notification" and "Message" in message:  # SNS envelope
        return message["Message"]
    source = message.get("eventSource") or message.get("EventSource")
    if source == "aws:sqs" and "body" in message:  # Lambda SQS record
        return message["body"]
    if "detail-type" in message and "detail" in message:  # EventBridge
        detail = message["detail"]
        if isinstance(detail, Mapping):
            for key in DETAIL_KEYS:
                if key in detail:
                    return detail[key]
        return detail
    return None


def message_id(record: Mapping[str, Any]) -> str | None:
    """The transport's id of one record (SQS messageId, SNS MessageId), for logs."""
    for where in (record, record.get("Sns")):
        if isinstance(where, Mapping):
            for key in ("messageId", "MessageId", "id"):
                value = where.get(key)
                if isinstance(value, str) and value:
                    return value
    return None


__all__ = ["DETAIL_KEYS", "MAX_DEPTH", "loads", "message_id", "unwrap"]
