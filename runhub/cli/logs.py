"""``runhub logs``: a run's log (stdout, or ``--stderr``), once or ``--follow``-ed.

Local runs: the run directory's log files. ICA: each analysis step's log, read
once the step has written it as a file. Code Ocean: the computation's one
console log, available once the run has ended.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.live import poll_option
from runhub.cli.helpers.session import Session, output_option, pass_session

if TYPE_CHECKING:
    from runhub.clientbase import PollSchedule


@click.command()
@click.argument("ref", metavar="REF")
@click.option("-f", "--follow", is_flag=True, help="Keep reading until the run has ended.")
@click.option("--stderr", is_flag=True, help="The standard error log instead of stdout.")
@poll_option
@output_option
@pass_session
def logs(
    session: Session, ref: str, follow: bool, stderr: bool, poll: float | None, output: str
) -> None:
    """Print a run's log: stdout (default) or --stderr.

    With --follow, prints what is new every poll until the run has ended (ICA:
    each step's log once the step has ended; Code Ocean: the log once the run has
    ended). Exit 0; 2 if the backend has no such log; 4 if the platform cannot
    be asked.

    \b
    Examples:
      runhub logs local:20261123T034001-1a2b3c4d --stderr
      runhub logs ica:0d4f…/60bf… --follow
    """
    import time

    from runhub.cli.helpers.refs import parse_refs
    from runhub.errors import Unsupported

    stream = "stderr" if stderr else "stdout"
    (run,) = parse_refs((ref,), session.ledger())
    client = session.client()
    backend = client.backend(run.backend)
    offered = backend.capabilities.logs
    if stream not in offered:
        if not offered:
            raise Unsupported(f"the {run.backend} backend cannot read run logs")
        raise Unsupported(
            f"the {run.backend} backend has no separate {stream} log",
            hint=f"its log ({', '.join(offered)}) holds what the run printed: runhub logs {run}",
        )
    driver = client.driver(backend)
    log = driver.run(backend.logs(run, stream))
    if output == "json" and not follow:
        render.echo_json({"ref": str(run), **log.to_dict()})
        return
    shown = ""
    delays = iter(_schedule(poll, backend.capabilities.http).delays())
    while True:
        text = log.text
        new = text[len(shown) :] if text.startswith(shown) else text
        if new and output != "json":
            click.echo(new, nl=False)
        shown = text
        if not follow or log.complete:
            break
        time.sleep(next(delays))
        log = driver.run(backend.logs(run, stream))
    if output == "json":
        render.echo_json({"ref": str(run), **log.to_dict()})
    elif not log.complete:
        click.echo(
            f"runhub: {run} has not ended: this is its log so far (--follow to keep reading)",
            err=True,
        )
    elif not shown:
        click.echo(f"runhub: {run}: the {stream} log is empty", err=True)


def _schedule(poll: float | None, remote: bool) -> PollSchedule:
    from runhub.clientbase import PollSchedule

    if poll is not None:
        return PollSchedule(initial=poll, factor=1.0, cap=poll, jitter=0.0)
    return PollSchedule() if remote else PollSchedule(initial=0.2, cap=2.0)


COMMANDS = (logs,)
