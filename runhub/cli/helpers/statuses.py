"""Showing the statuses of runs and the exit code they mean; following them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from runhub.cli.helpers import live, render

if TYPE_CHECKING:
    from runhub.backend import RunRef
    from runhub.cli.helpers.session import Session
    from runhub.state import RunStatus


def print_statuses(statuses: list[RunStatus], output: str, quiet: bool) -> None:
    """The statuses as a table, JSON/YAML, or references only."""
    if quiet:
        for s in statuses:
            click.echo(str(s.ref))
    elif output == "json":
        render.echo_json([s.to_dict() for s in statuses])
    else:
        click.echo(render.status_table(statuses))


def exit_unless_all_ok(statuses: list[RunStatus], output: str) -> None:
    """Exit 1 (with one note per run on stderr) unless every run succeeded."""
    bad = [s for s in statuses if not s.ok]
    if not bad:
        return
    if output != "json":
        for s in bad:
            why = f": {s.message}" if s.message else ""
            click.echo(f"runhub: {s.ref} ended {s.state.value}{why}", err=True)
    click.get_current_context().exit(1)


def follow(
    session: Session,
    runs: list[RunRef],
    timeout: float | None,
    poll: float | None,
    *,
    show: bool,
) -> list[RunStatus]:
    import asyncio

    async def go() -> list[RunStatus]:
        async with session.async_client() as client:
            return await live.follow(client, runs, timeout=timeout, poll=poll, show=show)

    return asyncio.run(go())
