"""``runhub ledger``: the ledger itself (backup here; ``info`` and ``copy`` in their
own modules, ledger_info.py and ledger_copy.py)."""

from __future__ import annotations

from pathlib import Path

import click

from runhub.cli.helpers.session import Session, pass_session
from runhub.cli.ledger_copy import copy
from runhub.cli.ledger_info import info


@click.group()
def ledger() -> None:
    """The ledger of launches itself (RUNHUB_LEDGER, else RUNHUB_HOME/ledger.sqlite)."""


@ledger.command()
@click.argument("dest", metavar="DEST", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace DEST if it exists.")
@pass_session
def backup(session: Session, dest: Path, force: bool) -> None:
    """Copy the ledger to DEST: a consistent snapshot, complete in one file.

    Safe while other runhub commands run. Copying ledger.sqlite by hand is not:
    while runhub runs, recent launches live in ledger.sqlite-wal. To restore,
    put DEST in place of ledger.sqlite while no runhub command runs.

    \b
    Examples:
      runhub ledger backup ~/backups/runhub-ledger-$(date +%F).sqlite
    """
    from runhub.errors import ConfigError

    the_ledger = session.ledger()
    if the_ledger.path is not None and dest.resolve() == the_ledger.path.resolve():
        raise ConfigError(f"{dest} is the ledger itself; choose another file")
    if dest.exists() and not force:
        raise ConfigError(f"{dest} already exists; choose another name, or add --force")
    if dest.exists():
        dest.unlink()
    count = the_ledger.backup(dest)
    click.echo(f"backed up {count} launch{'es' if count != 1 else ''} to {dest}")


ledger.add_command(info)
ledger.add_command(copy)

COMMANDS = (ledger,)
