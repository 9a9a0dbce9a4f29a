"""Consume an SQS queue of notifications: at-least-once in, exactly-once effect.

``ReceiveMessage`` long-polls (``WaitTimeSeconds``); each message goes through
:meth:`EventSink.handle` and is deleted only after that returned, so its effect is
committed first. A consumer killed in between leaves the message to come back after
its visibility timeout, and the sink's rules make the second delivery harmless. A
message no backend can read is never deleted: it is logged with its message id and
comes back until the queue's redrive policy moves it to the dead-letter queue. Errors
talking to SQS are logged and retried with backoff; the consumer never crashes on one.

boto3 is optional (``pip install 'runhub[s3]'``); it finds the endpoint, region and
credentials the standard way (``AWS_ENDPOINT_URL_SQS``, ``AWS_DEFAULT_REGION``, ...).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runhub.errors import ConfigError, PlatformError
from runhub.events.apply import EventSink

log = logging.getLogger("runhub.events")
INSTALL_HINT = "pip install 'runhub[s3]'"
#: ReceiveMessage takes 1-10 messages and waits up to 20 s (SQS limits).
MAX_BATCH = 10
MAX_WAIT = 20
_REGION = re.compile(r"sqs[.-]([a-z]{2}(?:-[a-z]+)+-\d)\.")


def sqs_client(queue_url: str) -> Any:
    """A boto3 SQS client for ``queue_url``, or a one-line ConfigError without boto3."""
    try:
        import boto3
    except ImportError:
        raise ConfigError(
            "runhub events consume --sqs needs boto3, which is not installed",
            hint=INSTALL_HINT,
        ) from None
    found = _REGION.search(queue_url)
    session = boto3.session.Session()
    region = session.region_name or (found.group(1) if found else "us-east-1")
    return session.client("sqs", region_name=region)


@dataclass
class Stats:
    """What a consumer did: messages received, deleted, kept, and receive errors."""

    received: int = 0
    deleted: int = 0
    kept: int = 0
    errors: int = 0


class SqsConsumer:
    """Feeds the messages of ``queue_url`` to ``sink``; see the module docstring.

    ``client`` is a boto3 SQS client (default: :func:`sqs_client`). ``wait`` is the
    long-poll time per receive (seconds), ``batch`` the messages asked per receive.
    """

    def __init__(
        self,
        queue_url: str,
        sink: EventSink,
        *,
        client: Any = None,
        wait: int = MAX_WAIT,
        batch: int = MAX_BATCH,
        backoff: Callable[[int], float] = lambda n: min(30.0, 0.5 * 2**n),
    ) -> None:
        self.queue_url = queue_url
        self.sink = sink
        self.sqs = client if client is not None else sqs_client(queue_url)
        self.wait = max(0, min(MAX_WAIT, wait))
        self.batch = max(1, min(MAX_BATCH, batch))
        self.backoff = backoff
        self.stats = Stats()

    async def check(self) -> None:
        """Make sure the queue exists and can be read: one clear error if not."""
        try:
            await asyncio.to_thread(
                self.sqs.get_queue_attributes,
                QueueUrl=self.queue_url,
                AttributeNames=["QueueArn"],
            )
        except Exception as error:
            raise PlatformError(f"SQS queue {self.queue_url}: {_describe(error)}") from None

    async def run(self, *, drain: bool = False, limit: int | None = None) -> Stats:
        """Consume until cancelled; ``drain``: stop at the first empty receive;
        ``limit``: stop after that many messages were received."""
        failures = 0
        while limit is None or self.stats.received < limit:
            try:
                messages = await self.receive()
            except Exception as error:  # SQS unreachable, throttled, ...: retry later
                self.stats.errors += 1
                log.warning("SQS receive failed: %s; retrying", _describe(error))
                await asyncio.sleep(self.backoff(failures))
                failures += 1
                continue
            failures = 0
            if not messages and drain:
                break
            for message in messages:
                await self.one(message)
        return self.stats

    async def receive(self) -> list[dict[str, Any]]:
        """One long-poll ReceiveMessage call."""
        answer = await asyncio.to_thread(
            self.sqs.receive_message,
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch,
            WaitTimeSeconds=self.wait,
            AttributeNames=["ApproximateReceiveCount"],
        )
        messages: list[dict[str, Any]] = answer.get("Messages") or []
        self.stats.received += len(messages)
        return messages

    async def one(self, message: dict[str, Any]) -> bool:
        """Handle one received message; True if it was deleted."""
        ident = str(message.get("MessageId") or "(no id)")
        try:
            handled = await self.sink.handle(message.get("Body", ""), ident)
        except Exception as error:  # the ledger or a listener failed: it comes back
            self.stats.kept += 1
            log.warning(
                "event message %s not applied: %s; it will be delivered again", ident, error
            )
            return False
        if not handled.done:
            self.stats.kept += 1
            log.warning(
                "event message %s cannot be read: %s; left for the queue's dead-letter policy",
                ident,
                handled.reason,
            )
            return False
        try:
            await asyncio.to_thread(
                self.sqs.delete_message,
                QueueUrl=self.queue_url,
                ReceiptHandle=message["ReceiptHandle"],
            )
        except Exception as error:  # applied; a redelivery will be a no-op
            self.stats.errors += 1
            log.warning("event message %s applied but not deleted: %s", ident, _describe(error))
            return False
        self.stats.deleted += 1
        return True


def _describe(error: BaseException) -> str:
    """A one-line reason from a botocore error (its code and message), or the error."""
    response = getattr(error, "response", None)
    if isinstance(response, dict) and isinstance(response.get("Error"), dict):
        err = response["Error"]
        return f"{err.get('Code', 'error')}: {err.get('Message', '')}".strip()
    return " ".join(str(error).split()) or type(error).__name__


__all__ = ["INSTALL_HINT", "SqsConsumer", "Stats", "sqs_client"]
