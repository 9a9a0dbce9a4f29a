"""``runhub ledger``: the ledger itself (backups; room for ``info`` and ``copy``)."""

from __future__ import annotations

from pathlib import Path

import click

from runhub.cli.helpers.session import Session, pass_session


@click.group()
def ledger() -> None:
    """The ledger of launches (RUNHUB_HOME/ledger.sqlite) itself."""


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


COMMANDS = (ledger,)
