"""Showing the statuses of runs and the exit code they mean; following them.

Every function takes outcomes (a RunStatus, or a :class:`~.tolerant.Problem` for a
run that could not be asked), so one bad run is one row, never the whole answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import click

from runhub.cli.helpers import live, render
from runhub.cli.helpers.tolerant import Outcome, Problem, exit_code

if TYPE_CHECKING:
    from runhub.backend import RunRef
    from runhub.cli.helpers.session import Session


def print_statuses(statuses: Sequence[Outcome], output: str, quiet: bool) -> None:
    """The statuses as a table, JSON/YAML, or references only."""
    if quiet:
        for s in statuses:
            click.echo(str(s.ref))
    elif output == "json":
        render.echo_json([s.to_dict() for s in statuses])
    else:
        click.echo(render.status_table(statuses))


def exit_unless_all_ok(statuses: Sequence[Outcome], output: str) -> None:
    """Exit non-zero (with one note per run on stderr) unless every run succeeded:
    the worst error's code if a run could not be asked, else 1."""
    code = exit_code(statuses)
    if not code:
        return
    if output != "json":
        for s in statuses:
            if isinstance(s, Problem):
                click.echo(f"runhub: {s.ref}: {s.error}", err=True)
            elif not s.ok:
                why = f": {render.message(s)}" if render.message(s) else ""
                click.echo(f"runhub: {s.ref} ended {s.state.value}{why}", err=True)
    click.get_current_context().exit(code)


def follow(
    session: Session,
    runs: list[RunRef],
    timeout: float | None,
    poll: float | None,
    *,
    show: bool,
    fresh: float | None = None,
) -> list[Outcome]:
    """Follow ``runs`` to their ends (see :func:`live.follow`)."""
    import asyncio

    async def go() -> list[Outcome]:
        async with session.async_client() as client:
            return await live.follow(
                client, runs, timeout=timeout, poll=poll, show=show, fresh=fresh
            )

    return asyncio.run(go())
