"""``runhub runs``: the ledger of launches, across backends and processes."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.params import DURATION
from runhub.cli.helpers.session import (
    Session,
    output_option,
    pass_session,
    quiet_option,
    wide_option,
)

if TYPE_CHECKING:
    from runhub.backend import RunRef
    from runhub.ledger import Launch, Ledger

STATES = [
    "PENDING",
    "QUEUED",
    "INITIALIZING",
    "RUNNING",
    "FINALIZING",
    "CANCELLING",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "UNKNOWN",
    "ERROR",
]


class Since(click.ParamType[float]):
    """A moment: a duration ago (``2h``, ``3d``) or an ISO date/time; as epoch seconds."""

    name = "since"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        if isinstance(value, float):
            return value
        text = str(value).strip()
        try:
            return time.time() - DURATION.convert(text, param, ctx)
        except click.BadParameter:
            pass
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            self.fail(f"{text!r} is neither a duration (2h, 3d) nor an ISO date", param, ctx)
        if moment.tzinfo is None:
            moment = moment.astimezone()  # a bare date/time is local time
        return moment.timestamp()


@click.command()
@click.option("-b", "--backend", metavar="NAME", help="Only runs on this backend.")
@click.option(
    "-s",
    "--state",
    type=click.Choice(STATES, case_sensitive=False),
    help="Only this state (ERROR: launches the platform refused).",
)
@click.option("--batch", metavar="ID", help="Only runs of this batch.")
@click.option("--since", type=Since(), metavar="WHEN", help="Launched since: 2h, 3d, 2026-11-01.")
@click.option(
    "-n", "--limit", type=click.IntRange(0), default=100, show_default=True, help="0: no limit."
)
@click.option("-r", "--refresh", is_flag=True, help="Update unfinished runs from the platforms.")
@click.option(
    "--remote",
    is_flag=True,
    help="List the platform's own runs (however they were started) instead of the ledger's.",
)
@click.option(
    "--capsule",
    metavar="ID",
    help="With --remote on Code Ocean: the capsule or pipeline whose runs to list.",
)
@click.option(
    "--prune",
    is_flag=True,
    help="Delete finished runs and refused launches older than --older-than.",
)
@click.option(
    "--older-than",
    type=DURATION,
    default="30d",
    show_default=True,
    metavar="DURATION",
    help="With --prune.",
)
@output_option
@quiet_option
@wide_option
@pass_session
def runs(
    session: Session,
    backend: str | None,
    state: str | None,
    batch: str | None,
    since: float | None,
    limit: int,
    refresh: bool,
    remote: bool,
    capsule: str | None,
    prune: bool,
    older_than: float,
    output: str,
    quiet: bool,
) -> None:
    """Recent launches recorded in the ledger, newest first.

    States are as last seen by runhub; --refresh asks the platforms first.
    --remote lists the platform's own runs instead (ICA: the project's analyses;
    Code Ocean: the computations of --capsule ID), runs started elsewhere included;
    BATCH is known for the ones launched from here. Times are UTC.

    \b
    Examples:
      runhub runs --since 2h
      runhub runs --batch b-1f2e3d4c5b6a7980 --refresh
      runhub runs --state FAILED -o json
      runhub runs -s error
      runhub runs --prune --older-than 30d
      runhub runs --remote --backend ica -n 20
    """
    if remote:
        _remote(session, backend, state, capsule, limit, output, quiet)
        return
    ledger = session.ledger()
    if prune:
        removed = ledger.prune(time.time() - older_than)
        plural = "s" if removed != 1 else ""
        click.echo(
            f"removed {removed} finished run{plural} or refused launch{'es' if plural else ''}"
            " from the ledger (a batch keeps a note of its rows' runs: re-running it launches"
            " none of them again)"
        )
        return
    wanted = state.upper() if state else None

    def select() -> list[Launch]:
        return ledger.runs(backend=backend, state=wanted, batch=batch, since=since, limit=limit)

    found = select()
    if refresh:
        _refresh(session, ledger, found)
        found = select()
    if quiet:
        for launch in found:
            if launch.ref:
                click.echo(launch.ref)
    elif output == "json":
        render.echo_json([launch.to_dict() for launch in found])
    else:
        click.echo(_table(found) if found else "(no runs recorded)")


def _table(found: list[Launch]) -> str:
    return render.table(
        ("REF", "NAME", "BACKEND", "BATCH", "STATE", "LAUNCHED"),
        (
            (
                launch.ref or "(not launched)",
                launch.name,
                launch.backend,
                launch.batch,
                launch.state or ("ERROR" if launch.error else None),
                _local(launch.launched_at or launch.created_at),
            )
            for launch in found
        ),
    )


def _local(epoch: float) -> str | None:
    return render.epoch(epoch)


def _remote(
    session: Session,
    backend: str | None,
    state: str | None,
    capsule: str | None,
    limit: int,
    output: str,
    quiet: bool,
) -> None:
    from runhub.cli.helpers.remote import remote_runs, rows
    from runhub.config import load_profile

    name = backend or load_profile(session.profile).get("backend")
    if not isinstance(name, str) or not name:
        raise click.UsageError("--remote needs --backend NAME (or a profile's default backend)")
    client = session.client()
    found = remote_runs(client, name, capsule, limit)
    if state:
        found = [s for s in found if s.state.value == state.upper()]
    assert client.ledger is not None
    listed = rows(client.ledger, found)
    if quiet:
        for row in listed:
            click.echo(row["ref"])
    elif output == "json":
        render.echo_json(listed)
    elif not listed:
        click.echo(f"(no runs on {name})")
    else:
        click.echo(
            render.table(
                ("REF", "NAME", "BACKEND", "BATCH", "STATE", "LAUNCHED"),
                (
                    (r["ref"], r["name"], r["backend"], r["batch"], r["state"], r["created"])
                    for r in listed
                ),
            )
        )


def _refresh(session: Session, ledger: Ledger, found: list[Launch]) -> None:
    """Ask each backend for its unfinished runs (statuses() records them in the ledger)."""
    import asyncio

    from runhub.errors import RunhubError
    from runhub.ledger import TERMINAL

    by_backend: dict[str, list[RunRef]] = {}
    for launch in found:
        ref = launch.run_ref()
        if ref is not None and launch.state not in TERMINAL:
            by_backend.setdefault(launch.backend, []).append(ref)

    async def go() -> None:
        async with session.async_client() as client:
            for refs in by_backend.values():
                try:
                    await client.statuses(refs)
                except RunhubError:
                    # One bad run (deleted on the platform, say) must not hide the
                    # others: ask one at a time and report the ones that fail.
                    for ref in refs:
                        try:
                            await client.statuses([ref])
                        except RunhubError as error:
                            click.echo(f"runhub: warning: {ref}: not refreshed: {error}", err=True)

    if by_backend:
        asyncio.run(go())
    del ledger


COMMANDS = (runs,)
