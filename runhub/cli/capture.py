"""``runhub capture``: a finished run's results as a data asset (Code Ocean).

The library does the work (``Client.capture``, :mod:`runhub.transfer.ops`): it makes
the asset, waits until the platform says it is ready (or reports its failure
reason) and returns it; capturing the same run again returns the same asset.
"""

from __future__ import annotations

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.params import DURATION
from runhub.cli.helpers.session import Session, output_option, pass_session


@click.command()
@click.argument("ref", metavar="REF")
@click.option("--name", required=True, metavar="NAME", help="The data asset's name.")
@click.option("--mount", metavar="M", help="Its default mount folder (default: from NAME).")
@click.option("--tag", "tags", multiple=True, metavar="T", help="A tag to add. Repeatable.")
@click.option("--path", metavar="P", help="Capture only this folder of the results.")
@click.option(
    "--timeout", type=DURATION, metavar="DURATION", help="Give up waiting after this long."
)
@click.option(
    "--poll",
    type=click.FloatRange(min=0.01),
    metavar="SECONDS",
    envvar="RUNHUB_POLL",
    help="First wait between state checks (default 5 s, growing; env RUNHUB_POLL).",
)
@output_option
@click.option("-q", "--quiet", is_flag=True, help="Print the data asset id only.")
@pass_session
def capture(
    session: Session,
    ref: str,
    name: str,
    mount: str | None,
    tags: tuple[str, ...],
    path: str | None,
    timeout: float | None,
    poll: float | None,
    output: str,
    quiet: bool,
) -> None:
    """Capture the results of the finished run REF as a data asset.

    Prints the asset id once the platform reports it ready: give it as a mount
    source of the next run. Running the command again for the same run returns
    the same asset (a failed one is made anew). Exits 4 with the platform's
    reason if the asset fails, 124 if --timeout passes first.

    \b
    Examples:
      runhub capture codeocean:6b1e… --name "sample A alignments" --mount alignments
      runhub capture codeocean:6b1e… --name qc --path qc/ --tag sample-A -q
    """
    from runhub.transfer.api import ASSET_POLL

    asset = session.client().capture(
        ref, name, mount=mount, tags=tags, path=path, timeout=timeout, poll=poll or ASSET_POLL
    )
    if quiet:
        click.echo(asset.id)
    elif output == "json":
        render.echo_json(asset.to_dict())
    else:
        click.echo(asset.id)
        click.echo(
            f"# {asset.name!r} is {asset.state}: mount it with "
            f"{{source: {asset.id}, path: {asset.mount}}}",
            err=True,
        )


COMMANDS = (capture,)
