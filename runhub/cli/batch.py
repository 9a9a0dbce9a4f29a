"""``runhub batch``: one run per samplesheet row, resumable, never launched twice.

Every row is checked before anything launches. Each row has a stable key in the
ledger (RUNHUB_HOME/ledger.sqlite) and the batch id is derived from the command's
inputs, so running the same command again launches only the rows not launched yet
and re-attaches to the others, whatever interrupted the first try.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from runhub.cli.helpers import live, render
from runhub.cli.helpers.params import DURATION
from runhub.cli.helpers.session import Session, output_option, pass_session, quiet_option

if TYPE_CHECKING:
    from runhub.aio import AsyncClient
    from runhub.batch import BatchPlan
    from runhub.errors import RunhubError
    from runhub.state import RunStatus

RESUME = "re-run the same command to resume"


@click.command()
@click.argument("spec", metavar="SPEC")
@click.argument("samplesheet", metavar="SAMPLESHEET")
@click.option("-b", "--backend", metavar="NAME", help="Backend to run on (as for launch).")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a template field for every row (as for launch). Repeatable.",
)
@click.option(
    "-j",
    "--concurrency",
    type=click.IntRange(1, 512),
    default=16,
    show_default=True,
    help="Launches in flight at once.",
)
@click.option("--batch-id", metavar="ID", help="Use this batch id instead of the derived one.")
@click.option("--wait", is_flag=True, help="Follow every run until it ends.")
@click.option(
    "--timeout", type=DURATION, metavar="DURATION", help="With --wait: give up after this long."
)
@click.option("--dry-run", is_flag=True, help="Check every row and show the plan; launch nothing.")
@live.poll_option
@output_option
@quiet_option
@pass_session
def batch(
    session: Session,
    spec: str,
    samplesheet: str,
    backend: str | None,
    overrides: tuple[str, ...],
    concurrency: int,
    batch_id: str | None,
    wait: bool,
    timeout: float | None,
    dry_run: bool,
    poll: float | None,
    output: str,
    quiet: bool,
) -> None:
    """Launch one run of the SPEC template per row of SAMPLESHEET (CSV or TSV).

    {column} placeholders in any text of the template (name, mount sources,
    parameter values...) are filled from the row; {{ and }} are literal braces.
    Every row is checked first: any problem (missing column, empty cell,
    duplicate run name, invalid value) is reported with its row number and
    nothing is launched.

    Running the same command again resumes the batch: rows already launched are
    re-attached, never launched twice. With --wait, exits 0 only if every run
    succeeded.

    \b
    Examples:
      runhub batch examples/samplesheets/hello.yaml examples/samplesheets/hello.csv --wait
      runhub batch dragen.yaml samples.tsv --backend ica -j 32 --set parameters.mode=fast
    """
    import asyncio
    import gc

    from runhub.batch import load_template, plan, read_samplesheet
    from runhub.cli.helpers.specs import parse_overrides

    if timeout is not None and not wait:
        raise click.UsageError("--timeout only applies with --wait")
    template = load_template(spec)
    sheet = read_samplesheet(samplesheet)
    changes = parse_overrides(overrides)
    chosen = _backend_name(backend, template, changes, session)
    checker = session.client().backend(chosen)
    the_plan = plan(
        template,
        sheet,
        template_label=spec,
        overrides=changes,
        backend=chosen,
        validate=checker.validate,
        batch_id=batch_id,
    )
    if dry_run:
        _show_plan(the_plan, chosen, output)
        return
    show = output != "json" and not quiet
    if show:
        count = len(the_plan.items)
        click.echo(
            f"batch {the_plan.batch_id}: {count} run{'s' if count != 1 else ''} on {chosen}"
            " (run the same command again to resume after an interruption)",
            err=True,
        )
    # Everything loaded so far (modules, the checked plan) lives until exit: frozen,
    # the collector stops re-scanning it during the launches (~0.1 s per 1000 runs).
    gc.freeze()
    try:
        results, final = asyncio.run(
            _run(session, the_plan, chosen, concurrency, wait, timeout, poll, show)
        )
    except KeyboardInterrupt:
        click.echo(
            f"runhub: error: interrupted: batch {the_plan.batch_id}: runs already launched keep"
            " running; run the same command again to resume",
            err=True,
        )
        click.get_current_context().exit(130)
    _report(the_plan, chosen, results, final, output, quiet)
    failures = [r for r in results if not _is_status(r)]
    code = 0
    if failures:
        code = max(getattr(f, "exit_code", 4) for f in failures)
    elif final is not None and not all(s.ok for s in final):
        code = 1
    if code:
        click.get_current_context().exit(code)


def _backend_name(
    flag: str | None, template: dict[str, Any], changes: dict[str, Any], session: Session
) -> str:
    from runhub.cli.helpers.specs import DEFAULT_BACKEND
    from runhub.config import load_profile

    named = changes.get("backend", template.get("backend"))
    if flag:
        return flag
    if isinstance(named, str) and named and "{" not in named:
        return named
    default = load_profile(session.profile).get("backend")
    return default if isinstance(default, str) and default else DEFAULT_BACKEND


def _is_status(item: object) -> bool:
    from runhub.state import RunStatus

    return isinstance(item, RunStatus)


async def _run(
    session: Session,
    the_plan: BatchPlan,
    backend: str,
    concurrency: int,
    wait: bool,
    timeout: float | None,
    poll: float | None,
    show: bool,
) -> tuple[list[RunStatus | RunhubError], list[RunStatus] | None]:
    async with session.async_client() as client:
        results = await _launch(client, the_plan, backend, concurrency, show)
        if not wait:
            return results, None
        refs = [r.ref for r in results if _is_status(r)]  # type: ignore[union-attr]
        if not refs:
            return results, []
        if show:
            click.echo(f"following {len(refs)} runs of batch {the_plan.batch_id}", err=True)
        resume = f"runhub wait --batch {the_plan.batch_id}"
        final = await live.follow(
            client, refs, timeout=timeout, poll=poll, show=show, resume=resume
        )
        return results, final


async def _launch(
    client: AsyncClient, the_plan: BatchPlan, backend: str, concurrency: int, show: bool
) -> list[RunStatus | RunhubError]:
    specs = [item.spec for item in the_plan.items]
    keys = [item.row_key for item in the_plan.items]
    launching = client.launch_many(
        specs,
        backend,
        batch=the_plan.batch_id,
        row_keys=keys,
        concurrency=concurrency,
        return_exceptions=True,
    )
    if not (show and sys.stderr.isatty() and live.fancy()):
        return await launching
    done: list[RunStatus | RunhubError] = await _with_progress(client, the_plan, launching)
    return done


async def _with_progress(client: AsyncClient, the_plan: BatchPlan, launching: Any) -> Any:
    """A progress bar fed from the ledger while the launches run."""
    import asyncio

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    ledger = client.ledger
    assert ledger is not None
    total = len(the_plan.items)
    task = asyncio.ensure_future(launching)
    with Progress(
        TextColumn("launching"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        tid = bar.add_task("", total=total)
        while True:
            records = ledger.batch(the_plan.batch_id)
            states: dict[str, int] = {}
            for rec in records:
                label = rec.state or ("error" if rec.error else "pending")
                states[label] = states.get(label, 0) + 1
            bar.update(
                tid,
                completed=sum(1 for r in records if r.ref or r.error),
                description=" ".join(f"{k}:{v}" for k, v in sorted(states.items())),
            )
            if task.done():
                break
            await asyncio.wait([task], timeout=0.2)
    return task.result()


def _show_plan(the_plan: BatchPlan, backend: str, output: str) -> None:
    rows = [
        {"row": i.row, "row_key": i.row_key, "name": i.spec.name, "spec": i.spec.to_data()}
        for i in the_plan.items
    ]
    if output == "json":
        render.echo_json({"batch": the_plan.batch_id, "backend": backend, "runs": rows})
        return
    click.echo(f"# batch {the_plan.batch_id} on {backend}: {len(rows)} runs (none launched)")
    click.echo(
        render.table(
            ("ROW", "NAME", "PIPELINE"),
            ((i.row, i.spec.name, i.spec.pipeline) for i in the_plan.items),
        )
    )


def _report(
    the_plan: BatchPlan,
    backend: str,
    results: list[RunStatus | RunhubError],
    final: list[RunStatus] | None,
    output: str,
    quiet: bool,
) -> None:
    from runhub.errors import TransportError
    from runhub.state import RunStatus

    latest = {str(s.ref): s for s in final or []}
    runs = []
    for item, result in zip(the_plan.items, results, strict=True):
        entry: dict[str, Any] = {"row": item.row, "name": item.spec.name, "row_key": item.row_key}
        if isinstance(result, RunStatus):
            status = latest.get(str(result.ref), result)
            entry.update(ref=str(status.ref), state=status.state.value, error=None)
            entry["message"] = status.message
        else:
            hint = f" ({RESUME})" if isinstance(result, TransportError) else ""
            entry.update(ref=None, state=None, error=f"{result}{hint}", message=None)
        runs.append(entry)
    summary: dict[str, int] = {}
    for entry in runs:
        label = entry["state"] or "NOT LAUNCHED"
        summary[label] = summary.get(label, 0) + 1
    if quiet:
        for entry in runs:
            if entry["ref"]:
                click.echo(entry["ref"])
    elif output == "json":
        render.echo_json(
            {"batch": the_plan.batch_id, "backend": backend, "runs": runs, "summary": summary}
        )
    else:
        click.echo(
            render.table(
                ("ROW", "NAME", "REF", "STATE", "MESSAGE"),
                (
                    (
                        e["row"],
                        e["name"],
                        e["ref"],
                        e["state"] or "NOT LAUNCHED",
                        e["error"] or e["message"],
                    )
                    for e in runs
                ),
            )
        )
        counts = ", ".join(f"{n} {state}" for state, n in sorted(summary.items()))
        click.echo(f"batch {the_plan.batch_id}: {len(runs)} runs: {counts}")
    for entry in runs:
        if entry["error"]:
            click.echo(f"runhub: row {entry['row']}: {entry['error']}", err=True)


def _why(entry: dict[str, Any]) -> object:
    return entry["error"] or entry["message"]


COMMANDS = (batch,)
