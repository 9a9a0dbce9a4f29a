"""Following many runs at once: one ``statuses`` call per backend per poll, shown
as a live table on a terminal or as one line per state change otherwise."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.tolerant import Outcome, Problem

if TYPE_CHECKING:
    from runhub.aio import AsyncClient
    from runhub.backend import RunRef
    from runhub.clientbase import PollSchedule
    from runhub.state import RunStatus

#: Fixed poll interval in seconds for every follow/watch (tests, impatient people).
POLL_ENV = "RUNHUB_POLL"


def poll_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--poll SECONDS``: a fixed poll interval (default: adaptive per backend)."""
    return click.option(
        "--poll",
        type=click.FloatRange(min=0.01),
        metavar="SECONDS",
        envvar=POLL_ENV,
        help=f"Poll every SECONDS (default: 2 s growing to 30 s; local: 0.2 s to 2 s; "
        f"env {POLL_ENV}).",
    )(func)


def fresh_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--fresh SECONDS``: trust ledger states younger than this (an events consumer
    writes them) and poll only the other runs (docs/events.md)."""
    return click.option(
        "--fresh",
        type=click.FloatRange(min=0.01),
        metavar="SECONDS",
        envvar="RUNHUB_FRESH",
        help="Take a run's state from the ledger when it was recorded less than SECONDS "
        "ago (by 'runhub events consume'); poll only the others (env RUNHUB_FRESH).",
    )(func)


def schedule(poll: float | None, refs: Sequence[RunRef], client: AsyncClient) -> PollSchedule:
    """A fixed schedule for ``--poll``, else gentle for platforms, brisk for local runs."""
    from runhub.clientbase import PollSchedule

    if poll is not None:
        return PollSchedule(initial=poll, factor=1.0, cap=poll, jitter=0.0)
    remote = any(client.backend(r.backend).capabilities.http for r in refs)
    return PollSchedule() if remote else PollSchedule(initial=0.2, cap=2.0)


def fancy() -> bool:
    """True when stdout is a terminal that may show colour and redraw."""
    return (
        sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
    )


def elapsed(status: RunStatus, now: datetime | None = None) -> str | None:
    """How long the run has taken so far (or took), as ``1h02m03s``."""
    start = status.started or status.created
    if start is None:
        return None
    end = status.ended or now or datetime.now(UTC)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    seconds = max(0, int((end - start).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def runs_table(statuses: Sequence[Outcome]) -> str:
    """REF, NAME, STATE, ELAPSED, MESSAGE for each run (ERROR rows for problems)."""
    now = datetime.now(UTC)
    return render.table(
        ("REF", "NAME", "STATE", "ELAPSED", "MESSAGE"),
        (
            (s.ref, None, "ERROR", None, str(s.error))
            if isinstance(s, Problem)
            else (s.ref, s.name, s.state.value, elapsed(s, now), render.message(s))
            for s in statuses
        ),
    )


def label(outcome: Outcome) -> str:
    """The state a run is counted under (ERROR for a run that could not be asked)."""
    return "ERROR" if isinstance(outcome, Problem) else outcome.state.value


def counts(statuses: Sequence[Outcome]) -> dict[str, int]:
    """How many runs are in each state (states in order of first appearance)."""
    found: dict[str, int] = {}
    for s in statuses:
        found[label(s)] = found.get(label(s), 0) + 1
    return found


def counts_line(statuses: Sequence[Outcome]) -> str:
    """``3 SUCCEEDED, 1 RUNNING``."""
    return ", ".join(f"{n} {state}" for state, n in sorted(counts(statuses).items()))


async def follow(
    client: AsyncClient,
    refs: Sequence[RunRef],
    *,
    timeout: float | None,
    poll: float | None,
    show: bool,
    resume: str | None = None,
    fresh: float | None = None,
) -> list[Outcome]:
    """Watch ``refs`` until all are terminal; returns the final statuses in order.

    A run that cannot be asked becomes a Problem in its place (the others go on).
    ``show``: a live table on a terminal, else one line per state change. Raises
    WaitTimeout (with the last statuses in its message) at the deadline.
    """
    import asyncio

    from runhub.cli.helpers import tolerant
    from runhub.errors import WaitTimeout

    latest: dict[str, Outcome] = {}
    display = _Display(show, len(refs))
    try:
        async with asyncio.timeout(timeout):
            polls = schedule(poll, refs, client)
            async for status in tolerant.watch(client, refs, polls, fresh):
                latest[str(status.ref)] = status
                display.update(status, [latest[str(r)] for r in refs if str(r) in latest])
    except TimeoutError:
        display.stop()
        left = [s for s in latest.values() if not s.is_terminal]
        pending = len(refs) - len(latest) + len(left)
        what = f"{pending} of {len(refs)} runs" if len(refs) > 1 else f"{refs[0]}"
        if resume is None:
            more = " ..." if len(refs) > 3 else ""
            resume = f"runhub wait {' '.join(str(r) for r in refs[:3])}{more}"
        raise WaitTimeout(
            f"{what} still not finished after {timeout:g} s; left running (resume with: {resume})",
        ) from None
    finally:
        display.stop()
    return [latest[str(r)] for r in refs]


class _Display:
    """A rich live table on a terminal; change lines otherwise; nothing if not shown."""

    def __init__(self, show: bool, total: int) -> None:
        self.show = show
        self.total = total
        self.live: Any = None
        if show and fancy():
            from rich.live import Live

            self.live = Live(auto_refresh=True, refresh_per_second=4, transient=False)
            self.live.start()

    def update(self, status: Outcome, current: Sequence[Outcome]) -> None:
        if not self.show:
            return
        if self.live is None:
            if isinstance(status, Problem):
                click.echo(f"{render.change_line(None)}  {status.ref}  ERROR  {status.error}")
                return
            line = render.change_line(status)
            stamp, _, rest = line.partition("  ")
            label = f"{status.ref}" + (f" ({status.name})" if status.name else "")
            click.echo(f"{stamp}  {label}  {rest}" if self.total > 1 else line)
            return
        self.live.update(_rich_table(current, self.total))

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _rich_table(statuses: Sequence[Outcome], total: int) -> Any:
    from rich.table import Table

    from runhub.cli.helpers import fit

    colours = {
        "SUCCEEDED": "green",
        "FAILED": "red",
        "CANCELLED": "yellow",
        "RUNNING": "cyan",
        "ERROR": "red",
    }
    now = datetime.now(UTC)
    done = sum(1 for s in statuses if s.is_terminal)
    table = Table(title=f"{done}/{total} finished — {counts_line(statuses)}", title_justify="left")
    for header in ("REF", "NAME", "STATE", "ELAPSED", "MESSAGE"):
        # Refs never wrap: rich cuts what does not fit, after the shared part is elided.
        table.add_column(header, no_wrap=header == "REF", overflow="ellipsis")
    refs = fit.shared_elided([str(s.ref) for s in statuses])
    for s, ref in zip(statuses, refs, strict=True):
        state = label(s)
        style = colours.get(state, "")
        if isinstance(s, Problem):
            name, took, why = "-", "-", str(s.error)
        else:
            name, took, why = s.name or "-", elapsed(s, now) or "-", render.message(s) or ""
        table.add_row(
            ref,
            name,
            f"[{style}]{state}[/]" if style else state,
            took,
            " ".join(why.split())[:60],
        )
    return table
