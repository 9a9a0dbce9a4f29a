"""``runhub ledger info``: which ledger is in use, its schema version, its rows."""

from __future__ import annotations

from typing import Any

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.session import Session, output_option, pass_session


def known_version(kind: str) -> int | None:
    """The schema version this runhub writes for a store of ``kind``."""
    if kind == "sqlite":
        from runhub.ledger.sqlite_schema import MIGRATIONS

        return len(MIGRATIONS)
    if kind == "postgresql":
        from runhub.ledger.postgres_schema import CURRENT

        return CURRENT
    return None


@click.command()
@output_option
@pass_session
def info(session: Session, output: str) -> None:
    """Show the ledger in use: its store, where it is, its schema version and rows.

    The ledger is RUNHUB_LEDGER if set (a file path or postgresql://user@host/db),
    else the profile's `ledger = "..."`, else RUNHUB_HOME/ledger.sqlite.

    \b
    Examples:
      runhub ledger info
      RUNHUB_LEDGER=postgresql://me@db.lab/runhub runhub ledger info -o json
    """
    from runhub.ledger.location import configured

    source = configured(session.profile).source
    the_ledger = session.ledger()
    store = the_ledger.store
    counts = store.counts()
    data: dict[str, Any] = {
        "store": store.kind,
        "location": the_ledger.location,
        "source": source,
        "schema_version": the_ledger.schema_version,
        "schema_known": known_version(store.kind),
        "counts": counts,
    }
    if output == "json":
        render.echo_json(data)
        return
    rows = [
        ("store", data["store"]),
        ("location", f"{data['location']} ({source})"),
        ("schema", f"v{data['schema_version']} (this runhub writes v{data['schema_known']})"),
        (
            "launches",
            f"{counts['launches']} (with a run: {counts['launched']}, "
            f"claimed right now: {counts['claimed']})",
        ),
        ("tombstones", str(counts["pruned"])),
        ("specs", str(counts["specs"])),
    ]
    click.echo(render.table(("LEDGER", "VALUE"), rows))


COMMANDS = (info,)
