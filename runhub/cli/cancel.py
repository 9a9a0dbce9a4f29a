"""``runhub cancel``: ask the platform to stop runs (asking first where that deletes them)."""

from __future__ import annotations

import sys

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.refs import chosen
from runhub.cli.helpers.session import Session, output_option, pass_session


@click.command()
@click.argument("refs", metavar="REF...", nargs=-1)
@click.option("--batch", metavar="ID", help="Every unfinished run of this batch.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@output_option
@pass_session
def cancel(
    session: Session, refs: tuple[str, ...], batch: str | None, yes: bool, output: str
) -> None:
    """Ask the platform to stop one or more runs.

    On backends where cancelling also deletes the run (Code Ocean), asks first;
    without a terminal to ask on, --yes is required.
    """
    from runhub.errors import ConfigError

    runs = chosen(refs, batch)
    client = session.client()
    destructive = sorted(
        {r.backend for r in runs if client.backend(r.backend).capabilities.cancel_is_destructive}
    )
    if destructive and not yes:
        what = f"{len(runs)} runs" if len(runs) > 1 else str(runs[0])
        warning = f"cancelling a {'/'.join(destructive)} run also deletes it and its results"
        if not _can_prompt():
            raise ConfigError(f"{warning}; pass --yes to confirm (no terminal to ask on)")
        if not click.confirm(f"{warning}. Cancel {what}?", default=False, err=True):
            click.echo("runhub: not cancelled", err=True)
            click.get_current_context().exit(1)
    results = [client.cancel(run) for run in runs]
    if output == "json":
        render.echo_json(results[0].to_dict() if len(runs) == 1 else [r.to_dict() for r in results])
    else:
        click.echo(render.status_table(results))


def _can_prompt() -> bool:
    """True if a person can answer a question on this terminal."""
    return sys.stdin.isatty()


COMMANDS = (cancel,)
