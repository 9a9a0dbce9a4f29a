"""``runhub relaunch``: the same spec as an earlier run, as a new run linked to it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.live import poll_option
from runhub.cli.helpers.params import DURATION
from runhub.cli.helpers.session import Session, output_option, pass_session

if TYPE_CHECKING:
    from runhub.relaunch import Relaunched


@click.command()
@click.argument("ref", metavar="REF")
@click.option("--wait", is_flag=True, help="Follow the new run until it ends.")
@click.option(
    "--timeout", type=DURATION, metavar="DURATION", help="With --wait: give up after this long."
)
@poll_option
@output_option
@pass_session
def relaunch(
    session: Session,
    ref: str,
    wait: bool,
    timeout: float | None,
    poll: float | None,
    output: str,
) -> None:
    """Launch the spec REF was launched with again, as a new run.

    The spec comes from the ledger; the new run is linked to REF there (`runhub
    show` names both). For a run of a batch, the new run is that row's next
    attempt, which `status --batch ID` and `batch` then follow. Prints the new
    ref; with --wait, follows it (exit 0 succeeded, 1 failed or cancelled, 124
    timeout). Exit 2 if the ledger has no spec for REF or REF was relaunched
    already (relaunch the newest attempt instead).

    \b
    Examples:
      runhub relaunch ica:0d4f…/60bf…
      runhub relaunch codeocean:6f1c… --wait
    """
    from runhub.cli.launch import _exit_for, _follow
    from runhub.relaunch import relaunch as relaunch_run

    if timeout is not None and not wait:
        raise click.UsageError("--timeout only applies with --wait")
    from runhub.cli.helpers.refs import parse_refs

    client = session.client()
    done = relaunch_run(client, str(parse_refs((ref,), session.ledger())[0]))
    status = done.status
    if output != "json":
        click.echo(str(status.ref))
        click.echo(
            f"runhub: relaunched {done.previous.ref} as {status.ref}"
            + (f" (attempt {done.attempt})" if done.attempt > 1 else ""),
            err=True,
        )
    if not wait:
        if output == "json":
            render.echo_json(_shape(status.to_dict(), done))
        return
    final = _follow(client, status, timeout, quiet=output == "json", every=poll)
    if output == "json":
        render.echo_json(_shape(final.to_dict(), done))
    _exit_for(final, output)


def _shape(run: dict[str, object], done: Relaunched) -> dict[str, object]:
    return {"run": run, "previous": done.previous.ref, "attempt": done.attempt}


COMMANDS = (relaunch,)
