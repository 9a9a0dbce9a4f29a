"""``runhub status``: where one or more runs are (polled together per backend)."""

from __future__ import annotations

import click

from runhub.cli.helpers import live
from runhub.cli.helpers.refs import chosen
from runhub.cli.helpers.session import Session, output_option, pass_session, quiet_option
from runhub.cli.helpers.statuses import follow, print_statuses


@click.command()
@click.argument("refs", metavar="REF...", nargs=-1)
@click.option("--batch", metavar="ID", help="Every run of this batch (see `runhub runs`).")
@click.option("-w", "--watch", is_flag=True, help="Refresh until every run has ended.")
@live.poll_option
@output_option
@quiet_option
@pass_session
def status(
    session: Session,
    refs: tuple[str, ...],
    batch: str | None,
    watch: bool,
    poll: float | None,
    output: str,
    quiet: bool,
) -> None:
    """Show the current status of one or more runs (REF is BACKEND:ID).

    \b
    Examples:
      runhub status local:20261123T034001-1a2b3c4d
      runhub status --batch b-1f2e3d4c5b6a7980 --watch
    """
    runs = chosen(refs, batch)
    if not watch:
        print_statuses(session.client().statuses(runs), output, quiet)
        return
    final = follow(session, runs, None, poll, show=output != "json" and not quiet)
    print_statuses(final, output, quiet)


COMMANDS = (status,)
