"""``runhub outputs``: list a run's results, or download them (one run or a batch)."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.refs import batch_refs, parse_refs
from runhub.cli.helpers.session import Session, output_option, pass_session

if TYPE_CHECKING:
    from runhub.backend import Output, RunRef
    from runhub.cli.helpers.download import Outcome
    from runhub.client import Client
    from runhub.errors import RunhubError
    from runhub.ledger import Ledger


@click.command()
@click.argument("refs", metavar="[REF]...", nargs=-1)
@click.option("--batch", metavar="ID", help="Every succeeded run of this batch.")
@click.option(
    "-d",
    "--download",
    "into",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Download the files into DIR (one sub-folder per run when there are several).",
)
@output_option
@pass_session
def outputs(
    session: Session, refs: tuple[str, ...], batch: str | None, into: Path | None, output: str
) -> None:
    """List a run's result files and folders, or download them.

    Downloads skip files already present with the same size and resume partial
    ones (NAME.part), so running the same command again after an interruption
    finishes the job.

    \b
    Examples:
      runhub outputs local:20261123T034001-1a2b3c4d
      runhub outputs ica:PROJECT/ANALYSIS --download results/
      runhub outputs --batch b-1f2e3d4c5b6a7980 --download results/
    """
    if not refs and not batch:
        raise click.UsageError("name a REF, or --batch ID")
    ledger = session.ledger()
    runs = parse_refs(refs, ledger) + (batch_refs(batch, ledger) if batch else [])
    client = session.client()
    if into is None:
        _list(client, runs, output)
        return
    if batch:  # only finished, successful runs have results worth fetching
        runs = _succeeded(client, runs)
    several = len(runs) > 1 or batch is not None
    folders = _folders(runs, ledger) if several else {}
    done: list[tuple[RunRef, Outcome]] = []
    failed: list[tuple[RunRef, RunhubError]] = []
    with ExitStack() as stack:
        plain: list[Any] = []

        def http() -> Any:  # opened on the first remote download only
            if not plain:
                plain.append(stack.enter_context(_plain_http()))
            return plain[0]

        for run in runs:
            found = _outputs_of(client, run, failed)
            if found is None:
                continue
            files = [o for o in found if o.kind == "file"]
            root = into / folders[str(run)] if several else into
            # Signed URLs expire: each is asked for just before its file is fetched.
            sign = _signer(client, run)
            local = client.backend(run.backend).serves_local_files()
            for outcome in _fetch(files, root, http, sign, local):
                done.append((run, outcome))
    if output == "json":
        render.echo_json(
            [
                {
                    "ref": str(r),
                    "path": str(o.path),
                    "size": o.size,
                    "action": o.action,
                    "verified": o.verified,
                }
                for r, o in done
            ]
        )
        _exit_for_failures(failed, not several)
        return
    click.echo(
        render.table(
            ("REF", "FILE", "SIZE", "ACTION", "CHECKED"),
            ((r, o.path, render.size(o.size), o.action, o.verified) for r, o in done),
        )
        if done
        else "(no files)"
    )
    _exit_for_failures(failed, not several)


def _outputs_of(
    client: Client, run: RunRef, failed: list[tuple[RunRef, RunhubError]]
) -> list[Output] | None:
    """The run's outputs; None (the error kept in ``failed``) if it cannot be asked.
    A run still going says so: its outputs appear when it ends."""
    from runhub.errors import RunhubError

    try:
        found = client.outputs(run)
        if not found:
            status = client.status(run)
            if not status.is_terminal:
                click.echo(
                    f"runhub: {run} is still {status.state.value}: "
                    "its outputs appear when it has ended",
                    err=True,
                )
    except RunhubError as error:
        failed.append((run, error))
        return None
    return found


def _exit_for_failures(failed: list[tuple[RunRef, RunhubError]], single: bool) -> None:
    """One line per run whose outputs could not be had; exit with the worst code.
    For one run asked, its error is the command's (one line, its exit code)."""
    if single and failed:
        raise failed[0][1]
    for run, error in failed:
        click.echo(f"runhub: {run}: {error}", err=True)
    if failed:
        click.get_current_context().exit(max(e.exit_code for _, e in failed))


def _list(client: Client, runs: list[RunRef], output: str) -> None:
    failed: list[tuple[RunRef, RunhubError]] = []
    listed = [
        (run, found) for run in runs if (found := _outputs_of(client, run, failed)) is not None
    ]
    single = len(runs) == 1
    if single:
        _exit_for_failures(failed, single)
    if output == "json":
        if single:
            render.echo_json([o.to_dict() for o in listed[0][1]])
        else:
            render.echo_json(
                [{"ref": str(r), "outputs": [o.to_dict() for o in found]} for r, found in listed]
            )
        _exit_for_failures(failed, single)
        return
    if single:
        found = listed[0][1]
        click.echo(render.outputs_table(found) if found else "(no outputs)")
        return
    click.echo(
        render.table(
            ("REF", "PATH", "SIZE", "KIND"),
            ((r, o.path, render.size(o.size), o.kind) for r, found in listed for o in found),
        )
    )
    _exit_for_failures(failed, single)


def _succeeded(client: Client, runs: list[RunRef]) -> list[RunRef]:
    from runhub.cli.helpers.live import label
    from runhub.cli.helpers.tolerant import statuses as ask

    statuses = ask(client, runs)  # one run that cannot be asked is skipped, not fatal
    for s in statuses:
        if not s.ok:
            click.echo(f"runhub: skipping {s.ref} ({label(s)})", err=True)
    return [s.ref for s in statuses if s.ok]


def _safe(text: str) -> str:
    """``text`` made safe as one path component."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "run"


def _folders(runs: list[RunRef], ledger: Ledger) -> dict[str, str]:
    """Each run's sub-folder: its name from the ledger when every run has a distinct
    one (a batch's sample names), else its id."""
    names = {}
    for run in runs:
        record = ledger.by_ref(str(run))
        names[str(run)] = _safe(record.name) if record and record.name else None
    chosen = list(names.values())
    if None not in chosen and len(set(chosen)) == len(chosen):
        return {ref: name for ref, name in names.items() if name is not None}
    return {str(run): _safe(run.id) for run in runs}


def _signer(client: Client, run: RunRef) -> Callable[[Output], Output]:
    def sign(out: Output) -> Output:
        signed = client.download_urls(run, [out])
        return signed[0] if signed else out

    return sign


def _plain_http() -> Any:
    """An HTTP client without platform credentials, for presigned URLs; every
    request it makes, redirects included, must go to an allowed URL."""
    import httpx

    from runhub.cli.helpers.download import check_url

    def allowed(request: httpx.Request) -> None:
        check_url(str(request.url))

    return httpx.Client(
        follow_redirects=True,
        timeout=httpx.Timeout(30.0, read=300.0),
        event_hooks={"request": [allowed]},
    )


def _fetch(
    files: list[Output],
    root: Path,
    http: Callable[[], Any],
    sign: Callable[[Output], Output],
    local: bool,
) -> list[Outcome]:
    from functools import partial

    from runhub.cli.helpers.download import fetch_all
    from runhub.cli.helpers.live import fancy

    fetch = partial(fetch_all, files, root, http=http, url_for=sign, allow_files=local)
    if not (sys.stderr.isatty() and fancy()):
        return fetch()
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    total = sum(o.size or 0 for o in files)
    with Progress(
        *Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn(), transient=True
    ) as bar:
        task = bar.add_task(str(root), total=total or None)
        return fetch(progress=lambda n: bar.advance(task, n))


COMMANDS = (outputs,)
