"""``runhub chain``: run a chain file (one chain per samplesheet row), see where it
stands, cancel it.

The work is the library's (:mod:`runhub.chain`): everything is checked before
anything launches, every step's launch is a ledger row keyed by (chain, row,
step), so ``runhub chain run`` again resumes a chain after Ctrl-C, kill -9 or a
lost network and never launches a step twice. ``--wait`` shows a live table on a
terminal (one line per change otherwise). docs/chains.md has the file format.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from runhub.cli.helpers import live, render
from runhub.cli.helpers.params import DURATION
from runhub.cli.helpers.session import Session, output_option, pass_session, quiet_option

if TYPE_CHECKING:
    from runhub.aio import AsyncClient
    from runhub.chain import ChainView, StepView


@click.group()
def chain() -> None:
    """Run chains of pipelines: step B when step A succeeds, fed by A's outputs.

    \b
    Examples:
      runhub chain run examples/chain/chain.yaml --samplesheet examples/chain/samples.csv --wait
      runhub chain status c-1f2e3d4c5b6a7980
      runhub chain cancel c-1f2e3d4c5b6a7980
    """


def _poll_option(func: Any) -> Any:
    return click.option(
        "--poll-interval",
        "poll",
        type=click.FloatRange(min=0.01),
        metavar="SECONDS",
        help="Poll a run not heard of for this long (default: chain.poll_interval, else 30 s;"
        " env RUNHUB_CHAIN_POLL_INTERVAL).",
    )(func)


@chain.command("run")
@click.argument("chain_file", metavar="CHAIN")
@click.option("--samplesheet", metavar="SHEET", help="One chain per row ({column} placeholders).")
@click.option("-b", "--backend", metavar="NAME", help="Backend of steps whose spec names none.")
@click.option("--id", "chain_id", metavar="ID", help="This chain id instead of the derived one.")
@click.option("--wait", is_flag=True, help="Follow the chain until every row has its verdict.")
@click.option(
    "--timeout", type=DURATION, metavar="DURATION", help="With --wait: give up after this long."
)
@_poll_option
@output_option
@quiet_option
@pass_session
def run(
    session: Session,
    chain_file: str,
    samplesheet: str | None,
    backend: str | None,
    chain_id: str | None,
    wait: bool,
    timeout: float | None,
    poll: float | None,
    output: str,
    quiet: bool,
) -> None:
    """Run the chain file CHAIN (with --samplesheet: one chain per row).

    Everything is checked first (steps, after, when, inputs, cycles, each spec
    for its backend, and whether outputs can move between the steps' backends):
    any problem is reported with its path and nothing is launched (exit 2).
    Without --wait the steps that can start are launched and the command ends;
    running it again (or an event consumer, 'runhub events consume') advances
    the chain. With --wait, exits 0 only if every row succeeded (1 otherwise).
    """
    import asyncio

    from runhub.chain import runner

    if timeout is not None and not wait:
        raise click.UsageError("--timeout only applies with --wait")
    show = output == "table" and not quiet

    async def go() -> ChainView:
        async with session.async_client() as client:
            checked = runner.prepare(
                client, chain_file, samplesheet, backend=backend, chain_id=chain_id
            )
            ledger = client.ledger
            assert ledger is not None
            runner.record(ledger, checked)
            if show:
                rows, steps = len(checked.rows), len(checked.definition["steps"])
                click.echo(
                    f"chain {checked.id}: {rows} row{'s' if rows != 1 else ''} of"
                    f" {steps} step{'s' if steps != 1 else ''} (run the same command again to"
                    " resume after an interruption)",
                    err=True,
                )
            state["id"] = checked.id
            display = _Display(show and wait)
            try:
                async with asyncio.timeout(timeout):
                    return await runner.follow(
                        client, checked.id, wait=wait, poll=poll, on_view=display.update
                    )
            except TimeoutError:
                from runhub.errors import WaitTimeout

                raise WaitTimeout(
                    f"chain {checked.id} not finished after {timeout:g} s; its runs keep running"
                    f" (resume with: runhub chain run {chain_file}"
                    + (f" --samplesheet {samplesheet}" if samplesheet else "")
                    + " --wait)"
                ) from None
            finally:
                display.stop()

    state: dict[str, str] = {}
    try:
        shown = asyncio.run(go())
    except KeyboardInterrupt:
        which = f"chain {state['id']}: " if "id" in state else ""
        click.echo(
            f"runhub: error: interrupted: {which}runs already launched keep running; run the"
            " same command again to resume",
            err=True,
        )
        click.get_current_context().exit(130)
    _report(shown, output, quiet)
    if wait and shown.verdict != "succeeded":
        click.get_current_context().exit(1)


@chain.command("status")
@click.argument("chain_id", metavar="ID")
@output_option
@quiet_option
@pass_session
def status(session: Session, chain_id: str, output: str, quiet: bool) -> None:
    """Where chain ID stands: every row's steps, runs and verdict.

    Unfinished runs are asked afresh; nothing is launched (re-run 'runhub chain
    run', or run an event consumer, to advance the chain).
    """
    import asyncio

    from runhub.chain import runner

    async def go() -> ChainView:
        async with session.async_client() as client:
            return await runner.status(client, chain_id)

    _report(asyncio.run(go()), output, quiet)


@chain.command("cancel")
@click.argument("chain_id", metavar="ID")
@click.option("-y", "--yes", is_flag=True, help="Do not ask (Code Ocean deletes cancelled runs).")
@output_option
@quiet_option
@pass_session
def cancel(session: Session, chain_id: str, yes: bool, output: str, quiet: bool) -> None:
    """Cancel chain ID: no step launches any more, unfinished runs are cancelled,
    and steps not launched are marked skipped."""
    import asyncio

    from runhub.chain import runner

    async def go() -> ChainView:
        async with session.async_client() as client:
            _confirm(client, chain_id, yes)
            return await runner.cancel(client, chain_id)

    _report(asyncio.run(go()), output, quiet)


def _confirm(client: AsyncClient, chain_id: str, yes: bool) -> None:
    """Ask before a cancel that deletes runs (Code Ocean), as ``runhub cancel`` does."""
    from runhub.chain.advance import current
    from runhub.chain.progress import unfinished_runs
    from runhub.ref import RunRef

    ledger = client.ledger
    assert ledger is not None
    doomed = [
        s.ref
        for s in unfinished_runs(current(ledger, chain_id))
        if s.ref and client.backend(RunRef.parse(s.ref).backend).capabilities.cancel_is_destructive
    ]
    if doomed and not yes:
        if not sys.stdin.isatty():
            raise click.UsageError(
                f"cancelling deletes {len(doomed)} run(s) on their platform; add --yes"
            )
        click.confirm(
            f"Cancelling deletes {len(doomed)} run(s) on their platform. Go on?", abort=True
        )


def _report(shown: ChainView, output: str, quiet: bool) -> None:
    if quiet:
        for step in shown.steps():
            if step.ref:
                click.echo(step.ref)
    elif output != "table":
        render.echo_json(shown.to_dict())
    else:
        click.echo(_table(shown))
        click.echo(_summary(shown))
    for problem in shown.problems:
        click.echo(f"runhub: {problem}", err=True)


def _rows(shown: ChainView) -> list[tuple[str, str, str, str | None, str | None]]:
    return [
        (row.row, step.step, step.state, step.ref, step.message)
        for row in shown.rows
        for step in row.steps
    ]


def _table(shown: ChainView) -> str:
    return render.table(("ROW", "STEP", "STATE", "REF", "MESSAGE"), _rows(shown))


def _summary(shown: ChainView) -> str:
    done = sum(1 for r in shown.rows if r.verdict)
    verdicts: dict[str, int] = {}
    for row in shown.rows:
        label = row.verdict or "running"
        verdicts[label] = verdicts.get(label, 0) + 1
    counts = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
    verdict = f"; verdict: {shown.verdict}" if shown.verdict else ""
    return f"chain {shown.id}: {done}/{len(shown.rows)} rows finished ({counts}){verdict}"


class _Display:
    """A rich live table on a terminal; one line per step change otherwise."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.live: Any = None
        self.seen: dict[tuple[str, str], tuple[str, str | None]] = {}
        if show and live.fancy():
            from rich.live import Live

            self.live = Live(auto_refresh=True, refresh_per_second=4, transient=True)
            self.live.start()

    def update(self, shown: ChainView) -> None:
        if not self.show:
            return
        if self.live is not None:
            self.live.update(_rich(shown))
            return
        for step in shown.steps():
            mark = (step.state, step.ref)
            if self.seen.get((step.row, step.step)) != mark:
                self.seen[(step.row, step.step)] = mark
                click.echo(_change(step))
        for problem in shown.problems:
            click.echo(f"runhub: {problem}", err=True)

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


def _change(step: StepView) -> str:
    stamp = datetime.now(UTC).strftime("%H:%M:%S")
    parts = [stamp, f"row {step.row}", step.step, step.state, step.ref or "", step.message or ""]
    return "  ".join(p for p in parts if p)


def _rich(shown: ChainView) -> Any:
    from rich.table import Table

    colours = {
        "SUCCEEDED": "green",
        "FAILED": "red",
        "failed to launch": "red",
        "CANCELLED": "yellow",
        "skipped": "dim",
        "RUNNING": "cyan",
    }
    table = Table(title=_summary(shown), title_justify="left")
    for header in ("ROW", "STEP", "STATE", "REF", "MESSAGE"):
        table.add_column(header, no_wrap=header == "REF", overflow="ellipsis")
    for row, step, state, ref, message in _rows(shown):
        style = colours.get(state, "")
        table.add_row(
            row,
            step,
            f"[{style}]{state}[/]" if style else state,
            ref or "-",
            " ".join((message or "").split())[:60],
        )
    return table


COMMANDS = (chain,)
