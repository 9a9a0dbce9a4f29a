"""Plain-text tables and JSON output for the CLI.

Kept dependency-free (no rich) so the base CLI stays light; every function returns
text or writes through click, so the commands stay easy to test.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from runhub.backend import Output
    from runhub.state import RunStatus


def table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces; ``None`` shows as ``-``.

    On a terminal the table is fitted to its width (see :mod:`.fit`) unless the
    command was given ``--wide``.
    """
    from runhub.cli.helpers import fit

    cells = [[_cell(v) for v in row] for row in rows]
    width = fit.limit(_wide())
    if width is not None:
        headers, cells = fit.fit(headers, cells, width)
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    lines = [headers, *cells]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def _wide() -> bool:
    from runhub.cli.helpers.session import WIDE_KEY

    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.find_root().meta.get(WIDE_KEY))


def _cell(value: object) -> str:
    if value is None or value == "":
        return "-"
    text = str(value)
    return " ".join(text.split())  # one line per row, whatever the platform sent


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (stable key order as built), or as YAML
    when the command was given ``-o yaml``."""
    from runhub.cli.helpers.session import FORMAT_KEY

    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.find_root().meta.get(FORMAT_KEY) == "yaml":
        import yaml

        plain = json.loads(json.dumps(data, default=str))
        click.echo(yaml.safe_dump(plain, sort_keys=False, allow_unicode=True).rstrip("\n"))
        return
    click.echo(json.dumps(data, indent=2, default=str))


def when(value: datetime | None) -> str | None:
    """A timestamp in UTC, ``2026-11-23 10:15:00Z`` (one time zone everywhere), or None."""
    if value is None:
        return None
    if value.tzinfo is None:  # platforms that omit the offset mean UTC
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def epoch(value: float | None) -> str | None:
    """Epoch seconds (the ledger's times) as :func:`when` shows them."""
    return None if value is None else when(datetime.fromtimestamp(value, UTC))


def size(value: int | None) -> str | None:
    """A byte count for humans: 512 B, 1.5 KiB, 3.2 GiB."""
    if value is None:
        return None
    if value < 1024:
        return f"{value} B"
    units = ("KiB", "MiB", "GiB", "TiB")
    amount, index = value / 1024, 0
    while amount >= 1024 and index < len(units) - 1:
        amount, index = amount / 1024, index + 1
    return f"{amount:.1f} {units[index]}"


def status_table(statuses: Sequence[Any]) -> str:
    """One row per run: reference, state, native state, name, times, message. A run
    that could not be asked (a :class:`~.tolerant.Problem`) is a row saying why."""
    return table(
        ("REF", "STATE", "NATIVE", "NAME", "CREATED", "ENDED", "MESSAGE"),
        (
            (s.ref, "ERROR", None, None, None, None, str(s.error))
            if not hasattr(s, "state")
            else (
                s.ref,
                s.state.value,
                s.native,
                s.name,
                when(s.created),
                when(s.ended),
                message(s),
            )
            for s in statuses
        ),
    )


def message(status: RunStatus) -> str | None:
    """The status's message, or the exit code of a run that did not succeed."""
    if status.message:
        return status.message
    if status.exit_code is not None and status.is_terminal and not status.ok:
        return f"exit code {status.exit_code}"
    return None


def outputs_table(outputs: Sequence[Output]) -> str:
    """One row per output file or folder."""
    return table(
        ("PATH", "SIZE", "KIND"),
        ((o.path, size(o.size), o.kind) for o in outputs),
    )


def change_line(status: RunStatus | None, at: datetime | None = None) -> str:
    """A state change as it happens: UTC time, state, the platform's own state
    when it says more, and the message (or exit code)."""
    stamp = (at or datetime.now(UTC)).astimezone(UTC).strftime("%H:%M:%SZ")
    if status is None:
        return stamp
    parts = [stamp, status.state.value.ljust(12)]
    if status.native and status.native != status.state.value:
        parts.append(f"({status.native})")
    if status.message:
        parts.append(" ".join(status.message.split()))
    elif status.exit_code is not None:
        parts.append(f"exit code {status.exit_code}")
    return "  ".join(parts).rstrip()
