"""Commands on existing runs, one or many at once: status, wait, cancel.

Many runs are polled together (one ``statuses`` call per backend per cycle).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from runhub.cli import live, render
from runhub.cli.context import Session, output_option, pass_session, quiet_option
from runhub.cli.params import DURATION

if TYPE_CHECKING:
    from runhub.backend import RunRef
    from runhub.state import RunStatus


def parse_refs(texts: tuple[str, ...]) -> list[RunRef]:
    """Run references from the command line, with their polling-group hint when the
    ledger knows it (so runs of one batch are polled with one request per page)."""
    from runhub.backend import RunRef
    from runhub.ledger import Ledger

    ledger = Ledger()
    refs = []
    for text in texts:
        ref = RunRef.parse(text)
        record = ledger.by_ref(str(ref))
        known = record.run_ref() if record is not None else None
        refs.append(known or ref)
    return refs


def batch_refs(batch: str) -> list[RunRef]:
    """Every launched run of a batch, from the ledger (ConfigError if none)."""
    from runhub.errors import ConfigError
    from runhub.ledger import Ledger

    records = Ledger().batch(batch)
    refs = [r for r in (rec.run_ref() for rec in records) if r is not None]
    if not refs:
        raise ConfigError(
            f"no launched runs recorded for batch {batch!r}", hint="see `runhub runs` for batches"
        )
    return refs


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
    runs = _chosen(refs, batch)
    if not watch:
        print_statuses(session.client().statuses(runs), output, quiet)
        return
    final = _follow(session, runs, None, poll, show=output != "json" and not quiet)
    print_statuses(final, output, quiet)


@click.command()
@click.argument("refs", metavar="REF...", nargs=-1)
@click.option("--batch", metavar="ID", help="Every run of this batch.")
@click.option("--timeout", type=DURATION, metavar="DURATION", help="Give up after this long.")
@live.poll_option
@output_option
@pass_session
def wait(
    session: Session,
    refs: tuple[str, ...],
    batch: str | None,
    timeout: float | None,
    poll: float | None,
    output: str,
) -> None:
    """Wait for runs to end, printing each state change.

    Exits 0 if every run succeeded, 1 if any failed or was cancelled, 124 if
    --timeout passed first (the runs are left running).
    """
    runs = _chosen(refs, batch)
    final = _follow(session, runs, timeout, poll, show=output != "json")
    if output == "json":
        render.echo_json(final[0].to_dict() if len(runs) == 1 else [s.to_dict() for s in final])
    elif len(final) > 1:
        click.echo(live.runs_table(final))
    exit_unless_all_ok(final, output)


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

    runs = _chosen(refs, batch)
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


def _chosen(refs: tuple[str, ...], batch: str | None) -> list[RunRef]:
    if not refs and not batch:
        raise click.UsageError("name at least one REF, or --batch ID")
    return parse_refs(refs) + (batch_refs(batch) if batch else [])


def _follow(
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


COMMANDS = (status, wait, cancel)
