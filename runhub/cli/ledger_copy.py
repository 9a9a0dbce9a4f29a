"""``runhub ledger copy``: a user's ledger into another, e.g. the team's PostgreSQL one."""

from __future__ import annotations

from pathlib import Path

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.session import output_option


@click.command()
@click.option(
    "--to",
    "dest",
    required=True,
    metavar="LEDGER",
    help="The ledger to copy into: postgresql://user@host/db, or a SQLite file.",
)
@click.option(
    "--from",
    "source",
    metavar="LEDGER",
    help="The ledger to copy from (default: RUNHUB_HOME/ledger.sqlite).",
)
@output_option
def copy(dest: str, source: str | None, output: str) -> None:
    """Copy every launch of a ledger into another, e.g. the team's.

    Idempotent: a launch the destination already has (the same launch key, or
    the same batch and row) is left as it is there, so running the copy again,
    or after more launches, copies nothing twice. The source is only read.

    \b
    Examples:
      runhub ledger copy --to postgresql://me@db.lab/runhub
      runhub ledger copy --from old-laptop.sqlite --to postgresql://me@db.lab/runhub
    """
    from runhub.errors import ConfigError
    from runhub.ledger import Ledger
    from runhub.ledger.location import default_path, is_url, masked
    from runhub.ledger.transfer import copy_ledger

    origin: str | Path = source if source and is_url(source) else Path(source or default_path())
    if not is_url(origin) and not Path(origin).is_file():
        raise ConfigError(
            f"no ledger at {origin} to copy from; name one with --from PATH (a runhub "
            "ledger.sqlite file)"
        )
    if _same(origin, dest):
        raise ConfigError(f"{masked(dest)} is the ledger being copied; choose another --to")
    with Ledger(origin) as src, Ledger(dest) as dst:
        done = copy_ledger(src.store, dst.store)
        where = (src.location, dst.location)
    if output == "json":
        render.echo_json(
            {"from": where[0], "to": where[1], "found": done.found, "copied": done.added}
        )
        return
    added = done.added
    click.echo(
        f"copied {added['launches']} launch{'es' if added['launches'] != 1 else ''}, "
        f"{added['pruned']} tombstones and {added['specs']} specs from {where[0]} to "
        f"{where[1]} ({done.skipped} rows were there already)"
    )


def _same(origin: str | Path, dest: str) -> bool:
    from runhub.ledger.location import is_url

    if is_url(origin) or is_url(dest):
        return str(origin) == dest
    return Path(origin).resolve() == Path(dest).expanduser().resolve()


COMMANDS = (copy,)
