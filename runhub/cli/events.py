"""``runhub events``: apply platform notifications to the ledger (and advance chains).

``consume --sqs QUEUE_URL`` long-polls an SQS queue (boto3; deletes a message only
after its effect is committed); ``ingest FILE|-`` applies messages from a file or
stdin (webhooks, replays, tests). See docs/events.md.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runhub.cli.helpers.session import Session, pass_session

if TYPE_CHECKING:
    from runhub.events.apply import EventSink


@click.group()
def events() -> None:
    """Apply ICA notifications to the ledger and advance chains."""


@events.command()
@click.option("--sqs", "queue_url", required=True, metavar="QUEUE_URL", help="The SQS queue.")
@click.option("--drain", is_flag=True, help="Stop once the queue is empty.")
@click.option("--max", "limit", type=click.IntRange(min=1), metavar="N", help="Stop after N.")
@click.option(
    "--wait-time",
    type=click.IntRange(0, 20),
    default=20,
    show_default=True,
    metavar="SECONDS",
    help="Long-poll wait per receive.",
)
@pass_session
def consume(
    session: Session, queue_url: str, drain: bool, limit: int | None, wait_time: int
) -> None:
    """Consume notifications from an SQS queue until stopped (Ctrl-C).

    A message is deleted only after its effect is in the ledger; one that cannot
    be read is logged with its message id and left for the queue's dead-letter
    policy. Needs boto3 (pip install 'runhub[s3]'); AWS settings as usual
    (AWS_DEFAULT_REGION, AWS_PROFILE, AWS_ENDPOINT_URL_SQS, ...).

    \b
    Examples:
      runhub events consume --sqs https://sqs.eu-central-1.amazonaws.com/1234/ica-events
      runhub events consume --sqs "$QUEUE" --drain     # what is there now, then exit
    """
    import asyncio

    from runhub.events.sqs import SqsConsumer, sqs_client

    client_sqs = sqs_client(queue_url)  # boto3 missing: one line, before anything
    _show_warnings()

    async def go() -> dict[str, int]:
        async with session.async_client() as client:
            sink = _sink(client)
            consumer = SqsConsumer(queue_url, sink, client=client_sqs, wait=wait_time)
            await consumer.check()
            try:
                await consumer.run(drain=drain, limit=limit)
            finally:
                stats = consumer.stats
                click.echo(
                    f"received {stats.received}, deleted {stats.deleted}, kept {stats.kept}"
                    f" ({_counts(sink)})",
                    err=True,
                )
            return {"kept": stats.kept}

    asyncio.run(go())


@events.command()
@click.argument("source", metavar="FILE|-")
@pass_session
def ingest(session: Session, source: str) -> None:
    """Apply notifications from FILE (or - for stdin): one JSON message, a JSON
    list of them, a Lambda event ({"Records": [...]}), or one message per line.

    Exits 0 when every message was read, 2 if any could not be (each is named).

    \b
    Examples:
      runhub events ingest notification.json
      curl ... | runhub events ingest -
    """
    import asyncio

    from runhub.errors import ConfigError

    messages = _messages(_read(source), source)
    _show_warnings()

    async def go() -> int:
        async with session.async_client() as client:
            sink = _sink(client)
            bad = 0
            for ident, message in messages:
                handled = await sink.handle(message, ident)
                if not handled.done:
                    bad += 1
                    click.echo(f"{ident}: cannot be read: {handled.reason}", err=True)
            click.echo(f"{len(messages)} message(s): {_counts(sink)}", err=True)
            return bad

    if asyncio.run(go()):
        raise ConfigError(f"{source}: some messages could not be read (named above)")


def _sink(client: Any) -> EventSink:
    from runhub.events.apply import EventSink
    from runhub.events.listeners import default_listeners

    return EventSink(client, default_listeners())


def _counts(sink: EventSink) -> str:
    return ", ".join(f"{n} {o.value}" for o, n in sink.counts.items() if n) or "nothing"


def _show_warnings() -> None:
    """Unreadable messages are worth a line even when the CLI is quiet."""
    import logging

    logger = logging.getLogger("runhub.events")
    if logger.getEffectiveLevel() > logging.WARNING:
        logger.setLevel(logging.WARNING)


def _read(source: str) -> str:
    from runhub.errors import ConfigError

    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"{source}: cannot be read: {reason}") from None


def _messages(text: str, source: str) -> list[tuple[str, Any]]:
    """(id, message) pairs: one JSON document (a list is many messages), else JSON lines."""
    import json

    from runhub.events.envelopes import message_id

    name = "stdin" if source == "-" else Path(source).name
    try:
        data = json.loads(text)
    except ValueError:
        lines = [line for line in text.splitlines() if line.strip()]
        return [(f"{name}:{n}", line) for n, line in enumerate(lines, 1)]
    if isinstance(data, dict) and isinstance(data.get("Records"), list):
        data = data["Records"]
    if not isinstance(data, list):
        data = [data]
    return [
        ((message_id(m) if isinstance(m, dict) else None) or f"{name}#{n}", m)
        for n, m in enumerate(data, 1)
    ]


COMMANDS = (events,)
