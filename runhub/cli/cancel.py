"""``runhub cancel``: ask the platform to stop runs (asking first where that deletes them).

Every run is asked first: a run that has already finished is left alone and said
so, a run that cannot be asked or cancelled is one row of its own, and every
cancel made is recorded in the ledger (CANCELLED), so a later ``status`` knows it
even where the platform deleted the run (Code Ocean).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.refs import chosen
from runhub.cli.helpers.session import Session, output_option, pass_session, wide_option

if TYPE_CHECKING:
    from runhub.cli.helpers.tolerant import Outcome


@click.command()
@click.argument("refs", metavar="REF...", nargs=-1)
@click.option("--batch", metavar="ID", help="Every unfinished run of this batch.")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@output_option
@wide_option
@pass_session
def cancel(
    session: Session, refs: tuple[str, ...], batch: str | None, yes: bool, output: str
) -> None:
    """Ask the platform to stop one or more runs.

    A run that has already finished is left as it is (its row says so). On
    backends where cancelling also deletes the run (Code Ocean), asks first;
    without a terminal to ask on, --yes is required. Exits 0 when every
    unfinished run was asked to stop; else the worst error's code (its row says
    why), the other runs being cancelled all the same.
    """
    from runhub.cli.helpers import tolerant
    from runhub.errors import ConfigError, RunhubError

    runs = chosen(refs, batch, session.ledger())
    client = session.client()
    before = tolerant.statuses(client, runs)
    unfinished = [s.ref for s in before if not s.is_terminal]
    destructive = sorted(
        {
            r.backend
            for r in unfinished
            if client.backend(r.backend).capabilities.cancel_is_destructive
        }
    )
    if destructive and not yes:
        what = f"{len(unfinished)} runs" if len(unfinished) > 1 else str(unfinished[0])
        warning = f"cancelling a {'/'.join(destructive)} run also deletes it and its results"
        if not _can_prompt():
            raise ConfigError(f"{warning}; pass --yes to confirm (no terminal to ask on)")
        if not click.confirm(f"{warning}. Cancel {what}?", default=False, err=True):
            click.echo("runhub: not cancelled", err=True)
            click.get_current_context().exit(1)
    results: list[Outcome] = []
    for status in before:
        if status.is_terminal:
            results.append(status)
            if not isinstance(status, tolerant.Problem) and output != "json":
                click.echo(
                    f"runhub: {status.ref} had already finished ({status.state.value}); "
                    "nothing to cancel",
                    err=True,
                )
            continue
        try:
            results.append(client.cancel(status.ref))
        except RunhubError as error:
            results.append(tolerant.Problem(status.ref, error))
    if len(results) == 1 and isinstance(results[0], tolerant.Problem):
        raise results[0].error
    if output == "json":
        render.echo_json(results[0].to_dict() if len(runs) == 1 else [r.to_dict() for r in results])
    else:
        click.echo(render.status_table(results))
    problems = [r for r in results if isinstance(r, tolerant.Problem)]
    if problems:
        for problem in problems:
            if output != "json":
                click.echo(f"runhub: {problem.ref}: {problem.error}", err=True)
        click.get_current_context().exit(tolerant.exit_code(problems))


def _can_prompt() -> bool:
    """True if a person can answer a question on this terminal."""
    return sys.stdin.isatty()


COMMANDS = (cancel,)
