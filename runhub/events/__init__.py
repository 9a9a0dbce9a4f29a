"""Platform notifications -> ledger updates -> chains: runhub's event-driven side.

    from runhub.events import EventSink, lambda_handler

- :class:`StatusEvent`, :class:`Ignored`, :class:`Unreadable` (:mod:`.model`): what a
  backend's ``parse_event`` makes of a platform message (ICA: ``runhub_ica.events``);
- :func:`read` (:mod:`.read`, :mod:`.envelopes`): any envelope (SNS, SQS, SNS in SQS,
  EventBridge, bare) -> the event;
- :class:`EventSink` (:mod:`.apply`): dedupe, ledger update, listeners; one effect per
  event however often it is delivered;
- :class:`~runhub.events.sqs.SqsConsumer` (``runhub events consume --sqs``) and
  :func:`lambda_handler` (:mod:`.aws_lambda`): the entry points on AWS.

docs/events.md has the formats, the rules and how to deploy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runhub.events.model import RANK, Ignored, StatusEvent, Unreadable, moves_forward

if TYPE_CHECKING:
    from runhub.events.apply import EventSink, Handled, Listener, Outcome
    from runhub.events.aws_lambda import handle_invocation, lambda_handler
    from runhub.events.listeners import default_listeners
    from runhub.events.read import read
    from runhub.events.sqs import SqsConsumer

# Loaded on first use: a plugin importing the model above pays for nothing else.
_LAZY = {
    "EventSink": "apply",
    "Handled": "apply",
    "Listener": "apply",
    "Outcome": "apply",
    "handle_invocation": "aws_lambda",
    "lambda_handler": "aws_lambda",
    "default_listeners": "listeners",
    "read": "read",
    "SqsConsumer": "sqs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"runhub.events.{module}"), name)


__all__ = [
    "RANK",
    "EventSink",
    "Handled",
    "Ignored",
    "Listener",
    "Outcome",
    "SqsConsumer",
    "StatusEvent",
    "Unreadable",
    "default_listeners",
    "handle_invocation",
    "lambda_handler",
    "moves_forward",
    "read",
]
