"""``runhub batch``: one run per samplesheet row, resumable, never launched twice.

Every row is checked before anything launches: offline (the model, the backend's
rules) and then on the platform, with the same read-only lookups a launch makes
(:mod:`runhub.preflight`, cached, so a sheet of one pipeline costs a handful of
requests). Each row has a stable key in the ledger (RUNHUB_HOME/ledger.sqlite)
and the batch id is derived from the command's inputs, so running the same
command again launches only the rows not launched yet and re-attaches to the
others, whatever interrupted the first try. ``--retry-failed`` adds a numbered
attempt to the rows whose latest attempt failed (see :mod:`.helpers.attempts`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from runhub.cli.helpers import live, render
from runhub.cli.helpers.params import DURATION
from runhub.cli.helpers.session import (
    Session,
    output_option,
    pass_session,
    quiet_option,
    wide_option,
)

if TYPE_CHECKING:
    from runhub.aio import AsyncClient
    from runhub.batch import BatchPlan
    from runhub.cli.helpers.attempts import Attempts
    from runhub.cli.helpers.tolerant import Outcome
    from runhub.errors import RunhubError
    from runhub.spec import RunSpec
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
@click.option(
    "--params-file",
    metavar="FILE",
    help="Parameters from a YAML/JSON file, merged into the template's (as for launch).",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Launch a new attempt of each row whose latest run FAILED or was CANCELLED.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check every row (on the platform too) and show the plan; launch nothing.",
)
@click.option(
    "--adopt",
    is_flag=True,
    help="Take runs the platform holds for this batch, unknown to the ledger, for their rows.",
)
@click.option(
    "--no-creation-batch",
    "creation_batch",
    is_flag=True,
    flag_value=False,
    default=True,
    help="Send every run in a request of its own (ICA: no analysisCreationBatch).",
)
@live.poll_option
@output_option
@quiet_option
@wide_option
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
    params_file: str | None,
    retry_failed: bool,
    dry_run: bool,
    adopt: bool,
    creation_batch: bool,
    poll: float | None,
    output: str,
    quiet: bool,
) -> None:
    """Launch one run of the SPEC template per row of SAMPLESHEET (CSV or TSV).

    {column} placeholders in any text of the template (name, mount sources,
    parameter values...) are filled from the row; {{ and }} are literal braces.
    Every row is checked first, offline and then on the platform (pipeline,
    input codes, data paths or assets, storage: the read-only lookups a launch
    makes, cached): any problem (missing column, empty cell, duplicate run name,
    invalid value, data that does not exist) is reported with its row number and
    nothing is launched (exit 2; 3 or 4 if the platform refused or failed).

    Running the same command again resumes the batch: rows already launched are
    re-attached, never launched twice; several commands on one batch at once
    share its rows. --retry-failed launches a new, numbered attempt only of the
    rows whose latest run FAILED or was CANCELLED; earlier attempts stay in the
    ledger. With --wait, exits 0 only if every run succeeded.

    If the platform holds runs of the batch that the ledger does not know (a
    lost or replaced ledger), nothing is launched; --adopt takes those runs for
    their rows instead (on platforms that can find runs by launch key: ICA).

    On ICA the rows are created in batches (analysisCreationBatch: a handful of
    requests for 1000 runs, each row still exactly once); --no-creation-batch
    sends one request per run.

    \b
    Examples:
      runhub batch examples/samplesheets/hello.yaml examples/samplesheets/hello.csv --wait
      runhub batch dragen.yaml samples.tsv --backend ica -j 32 --set parameters.mode=fast
    """
    import asyncio
    import gc

    from runhub.batch import load_template, plan, read_samplesheet
    from runhub.cli.helpers import attempts
    from runhub.cli.helpers.paramsfile import merge_params, read_params
    from runhub.cli.helpers.specs import parse_overrides

    if timeout is not None and not wait:
        raise click.UsageError("--timeout only applies with --wait")
    if retry_failed and dry_run:
        raise click.UsageError("--retry-failed launches; leave out --dry-run")
    template = load_template(spec)
    if params_file is not None:
        template = merge_params(template, read_params(params_file))
    sheet = read_samplesheet(samplesheet)
    changes = parse_overrides(overrides)
    chosen = _backend_name(backend, template, changes, session)
    client = session.client()

    def validate(row: RunSpec) -> None:
        client.validate(row, chosen)  # the backend's checks, and local mount files readable

    the_plan = plan(
        template,
        sheet,
        template_label=spec,
        overrides=changes,
        backend=chosen,
        validate=validate,
        batch_id=batch_id,
    )
    checked = _preflight(client, the_plan, chosen, str(sheet.path))
    if dry_run:
        from runhub.cli.helpers.groupplan import group_requests

        groups = group_requests(client, the_plan, chosen) if creation_batch else []
        _show_plan(the_plan, chosen, output, checked, groups, client.redact)
        return
    chosen_attempts = attempts.choose(session.ledger(), the_plan, chosen, retry_failed=retry_failed)
    show = output != "json" and not quiet
    if show:
        count = len(the_plan.items)
        retried = len(chosen_attempts.retried)
        again = (
            f"; retrying {retried} failed row{'s' if retried != 1 else ''}" if retry_failed else ""
        )
        click.echo(
            f"batch {the_plan.batch_id}: {count} run{'s' if count != 1 else ''} on {chosen}"
            f" ({_checked_line(checked)}{again}; run the same command again to resume"
            " after an interruption)",
            err=True,
        )
    # Everything loaded so far (modules, the checked plan) lives until exit: frozen,
    # the collector stops re-scanning it during the launches (~0.1 s per 1000 runs).
    gc.freeze()
    try:
        results, final = asyncio.run(
            _run(
                session,
                the_plan,
                chosen_attempts,
                chosen,
                concurrency,
                wait,
                timeout,
                poll,
                show,
                adopt,
                creation_batch,
            )
        )
    except KeyboardInterrupt:
        click.echo(
            f"runhub: error: interrupted: batch {the_plan.batch_id}: runs already launched keep"
            " running; run the same command again to resume",
            err=True,
        )
        click.get_current_context().exit(130)
    _report(the_plan, chosen_attempts, chosen, results, final, output, quiet)
    from runhub.cli.helpers.tolerant import exit_code

    failures = [r for r in results if not _is_status(r)]
    code = 0
    if failures:
        code = max(getattr(f, "exit_code", 4) for f in failures)
    elif final is not None:
        code = exit_code(final)
    if code:
        click.get_current_context().exit(code)


def _preflight(client: Any, the_plan: BatchPlan, backend: str, label: str) -> Any:
    """Check every row on the platform; BatchError listing every row's problem."""
    from runhub.batch import BatchError
    from runhub.preflight import check_all

    checked = check_all(client, [item.spec for item in the_plan.items], backend)
    problems = [
        f"row {item.row}: {error}"
        for item, error in zip(the_plan.items, checked.errors, strict=True)
        if error is not None
    ]
    if problems:
        error = BatchError(problems, file=label)
        # The worst platform error's code (3 refused, 4 failed); else a spec problem (2).
        error.exit_code = max(e.exit_code for e in checked.errors if e is not None)
        raise error
    return checked


def _checked_line(checked: Any) -> str:
    rows = len(checked.errors)
    if not checked.sent:
        return f"{rows} row{'s' if rows != 1 else ''} checked"
    return (
        f"{rows} row{'s' if rows != 1 else ''} checked on the platform with"
        f" {checked.sent} read-only request{'s' if checked.sent != 1 else ''}"
    )


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
    chosen: Attempts,
    backend: str,
    concurrency: int,
    wait: bool,
    timeout: float | None,
    poll: float | None,
    show: bool,
    adopt: bool,
    creation_batch: bool,
) -> tuple[list[RunStatus | RunhubError], list[Outcome] | None]:
    async with session.async_client() as client:
        results = await _launch(
            client, the_plan, chosen, backend, concurrency, show, adopt, creation_batch
        )
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
    client: AsyncClient,
    the_plan: BatchPlan,
    chosen: Attempts,
    backend: str,
    concurrency: int,
    show: bool,
    adopt: bool,
    creation_batch: bool,
) -> list[RunStatus | RunhubError]:
    from runhub.cli.helpers.transfers import shown

    specs = [item.spec for item in the_plan.items]
    with shown(client, enabled=show):  # local mounts: each file once, one bar, before any launch
        specs = await client.stage(specs, backend)
    keys = chosen.row_keys
    launching = client.launch_many(
        specs,
        backend,
        batch=the_plan.batch_id,
        row_keys=keys,
        concurrency=concurrency,
        return_exceptions=True,
        adopt=adopt,
        creation_batch=creation_batch,
    )
    if not (show and sys.stderr.isatty() and live.fancy()):
        return await launching
    done: list[RunStatus | RunhubError] = await _with_progress(client, the_plan, keys, launching)
    return done


async def _with_progress(
    client: AsyncClient, the_plan: BatchPlan, keys: list[str], launching: Any
) -> Any:
    """A progress bar fed from the ledger while the launches run: rows not yet sent
    ("not launched") are kept apart from runs the platform holds as PENDING."""
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
            done, description = progress(ledger.batch(the_plan.batch_id), keys)
            bar.update(tid, completed=done, description=description)
            if task.done():
                break
            await asyncio.wait([task], timeout=0.2)
    return task.result()


def progress(records: list[Any], keys: list[str]) -> tuple[int, str]:
    """(rows answered, ``state:count ...``) for the progress bar: a row not sent yet
    counts as ``not launched``, never as the platform's ``PENDING``."""
    wanted = set(keys)
    mine = [r for r in records if r.row_key in wanted]
    states: dict[str, int] = {"not launched": len(wanted) - len(mine)}
    for rec in mine:
        label = rec.state or ("error" if rec.error else "not launched")
        states[label] = states.get(label, 0) + 1
    done = sum(1 for r in mine if r.ref or r.error)
    return done, " ".join(f"{k}:{v}" for k, v in sorted(states.items()) if v)


def _show_plan(
    the_plan: BatchPlan,
    backend: str,
    output: str,
    checked: Any,
    groups: list[Any],
    redact: Any,
) -> None:
    from runhub.cli.helpers import groupplan

    rows = [
        {"row": i.row, "row_key": i.row_key, "name": i.spec.name, "spec": i.spec.to_data()}
        for i in the_plan.items
    ]
    if output == "json":
        render.echo_json(
            {
                "batch": the_plan.batch_id,
                "backend": backend,
                "runs": rows,
                "preflight": {"rows": len(rows), "requests": checked.sent},
                "group_requests": [
                    groupplan.as_dict(r, redact, full=i == 0) for i, r in enumerate(groups)
                ],
            }
        )
        return
    click.echo(f"# batch {the_plan.batch_id} on {backend}: {len(rows)} runs (none launched)")
    click.echo(f"# pre-flight: {_checked_line(checked)}")
    click.echo(
        render.table(
            ("ROW", "NAME", "PIPELINE"),
            ((i.row, i.spec.name, i.spec.pipeline) for i in the_plan.items),
        )
    )
    for line in groupplan.lines(groups, redact, len(rows)):
        click.echo(line)


def _report(
    the_plan: BatchPlan,
    chosen: Attempts,
    backend: str,
    results: list[RunStatus | RunhubError],
    final: list[Outcome] | None,
    output: str,
    quiet: bool,
) -> None:
    from runhub.cli.helpers.tolerant import Problem
    from runhub.errors import AmbiguousLaunch, TransportError
    from runhub.state import RunStatus

    latest = {str(s.ref): s for s in final or []}
    runs = []
    labels = []  # the STATE cell; NEEDS A LOOK for a row whose run may exist
    for index, (item, result) in enumerate(zip(the_plan.items, results, strict=True)):
        entry: dict[str, Any] = {
            "row": item.row,
            "name": item.spec.name,
            "row_key": chosen.row_keys[index],
            "attempt": chosen.numbers[index],
        }
        if isinstance(result, RunStatus):
            status = latest.get(str(result.ref), result)
            if isinstance(status, Problem):
                entry.update(ref=str(status.ref), state=None, error=str(status.error))
                entry["message"] = None
            else:
                entry.update(ref=str(status.ref), state=status.state.value, error=None)
                entry["message"] = render.message(status)
        else:
            # A backend's own hint already says how to settle the row.
            resume = isinstance(result, TransportError) and not result.hint
            hint = f" ({RESUME})" if resume else ""
            entry.update(ref=None, state=None, error=f"{result}{hint}", message=None)
        runs.append(entry)
        unsure = isinstance(result, AmbiguousLaunch)
        labels.append("NEEDS A LOOK" if unsure else _state_label(entry))
    summary: dict[str, int] = {}
    for label in labels:
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
                ("ROW", "NAME", "ATTEMPT", "REF", "STATE", "MESSAGE"),
                (
                    (
                        e["row"],
                        e["name"],
                        e["attempt"],
                        e["ref"],
                        label,
                        e["error"] or e["message"],
                    )
                    for e, label in zip(runs, labels, strict=True)
                ),
            )
        )
        counts = ", ".join(f"{n} {state}" for state, n in sorted(summary.items()))
        click.echo(f"batch {the_plan.batch_id}: {len(runs)} runs: {counts}")
    for entry in runs:
        if entry["error"]:
            click.echo(f"runhub: row {entry['row']}: {entry['error']}", err=True)


def _state_label(entry: dict[str, Any]) -> str:
    """The STATE cell: the run's state, ERROR for a run that could not be asked,
    NOT LAUNCHED for a row that has no run."""
    if entry["state"]:
        return str(entry["state"])
    return "ERROR" if entry["ref"] else "NOT LAUNCHED"


COMMANDS = (batch,)
