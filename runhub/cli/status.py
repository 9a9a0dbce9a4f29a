"""``runhub status``: where one or more runs are (polled together per backend)."""

from __future__ import annotations

import click

from runhub.cli.helpers import live
from runhub.cli.helpers.refs import chosen
from runhub.cli.helpers.session import (
    Session,
    output_option,
    pass_session,
    quiet_option,
    wide_option,
)
from runhub.cli.helpers.statuses import exit_unless_all_ok, follow, print_statuses


@click.command()
@click.argument("refs", metavar="REF...", nargs=-1)
@click.option("--batch", metavar="ID", help="Every run of this batch (see `runhub runs`).")
@click.option("-w", "--watch", is_flag=True, help="Refresh until every run has ended.")
@live.poll_option
@live.fresh_option
@output_option
@quiet_option
@wide_option
@pass_session
def status(
    session: Session,
    refs: tuple[str, ...],
    batch: str | None,
    watch: bool,
    poll: float | None,
    fresh: float | None,
    output: str,
    quiet: bool,
) -> None:
    """Show the current status of one or more runs (REF is BACKEND:ID).

    A run that cannot be asked (deleted on the platform, say) is a row of its own
    (STATE ERROR) and the others are still shown; the exit code is then that
    error's (4 for a platform error, 3 refused), else 0.

    \b
    Examples:
      runhub status local:20261123T034001-1a2b3c4d
      runhub status --batch b-1f2e3d4c5b6a7980 --watch
    """
    from runhub.cli.helpers import tolerant

    runs = chosen(refs, batch, session.ledger())
    if not watch:
        found = tolerant.statuses(session.client(), runs)
    else:
        show = output != "json" and not quiet
        found = follow(session, runs, None, poll, show=show, fresh=fresh)
    if len(found) == 1 and isinstance(found[0], tolerant.Problem):
        raise found[0].error
    print_statuses(found, output, quiet)
    if any(isinstance(s, tolerant.Problem) for s in found):
        exit_unless_all_ok([s for s in found if isinstance(s, tolerant.Problem)], output)


COMMANDS = (status,)
