"""``runhub wait``: follow runs until they end; the exit code tells how they ended."""

from __future__ import annotations

import click

from runhub.cli.helpers import live, render
from runhub.cli.helpers.params import DURATION
from runhub.cli.helpers.refs import chosen
from runhub.cli.helpers.session import Session, output_option, pass_session, wide_option
from runhub.cli.helpers.statuses import exit_unless_all_ok, follow


@click.command()
@click.argument("refs", metavar="REF...", nargs=-1)
@click.option("--batch", metavar="ID", help="Every run of this batch.")
@click.option("--timeout", type=DURATION, metavar="DURATION", help="Give up after this long.")
@live.poll_option
@live.fresh_option
@output_option
@wide_option
@pass_session
def wait(
    session: Session,
    refs: tuple[str, ...],
    batch: str | None,
    timeout: float | None,
    poll: float | None,
    fresh: float | None,
    output: str,
) -> None:
    """Wait for runs to end, printing each state change.

    Exits 0 if every run succeeded, 1 if any failed or was cancelled, 124 if
    --timeout passed first (the runs are left running). A run that cannot be
    asked is a row of its own (STATE ERROR) and the others are still followed;
    the exit code is then that error's (4 for a platform error).
    """
    from runhub.cli.helpers.tolerant import Problem

    runs = chosen(refs, batch, session.ledger())
    final = follow(session, runs, timeout, poll, show=output != "json", fresh=fresh)
    if len(final) == 1 and isinstance(final[0], Problem):
        raise final[0].error
    if output == "json":
        render.echo_json(final[0].to_dict() if len(runs) == 1 else [s.to_dict() for s in final])
    elif len(final) > 1:
        click.echo(live.runs_table(final))
    exit_unless_all_ok(final, output)


COMMANDS = (wait,)
