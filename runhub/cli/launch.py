"""``runhub launch``: one run (status, wait, cancel and outputs have their own modules).

Each body imports the library itself, so ``runhub --help`` never loads httpx,
pydantic or yaml.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.live import poll_option
from runhub.cli.helpers.params import DURATION
from runhub.cli.helpers.session import Session, output_option, pass_session

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx

    from runhub.backend import Output
    from runhub.client import Client
    from runhub.spec import RunSpec
    from runhub.state import RunStatus


@click.command()
@click.argument("spec", metavar="SPEC")
@click.option(
    "-b",
    "--backend",
    metavar="NAME",
    help="Backend to run on (default: the spec's, else the profile's, else local).",
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a spec field by dotted path; VALUE is YAML (8, true, [a, b]). Repeatable.",
)
@click.option("--name", metavar="NAME", help="Run name (same as --set name=NAME).")
@click.option(
    "--params-file",
    metavar="FILE",
    help="Parameters from a YAML/JSON file, merged into the spec's (--set still wins).",
)
@click.option("--wait", is_flag=True, help="Follow the run until it ends, then list its outputs.")
@click.option(
    "--timeout", type=DURATION, metavar="DURATION", help="With --wait: give up after this long."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show the request that would be sent (after read-only lookups); launch nothing.",
)
@poll_option
@output_option
@pass_session
def launch(
    session: Session,
    spec: str,
    backend: str | None,
    overrides: tuple[str, ...],
    name: str | None,
    params_file: str | None,
    wait: bool,
    timeout: float | None,
    dry_run: bool,
    poll: float | None,
    output: str,
) -> None:
    """Launch one run of SPEC (a YAML/JSON file, a directory holding runspec.yaml, or -).

    --params-file and --set are applied before the spec is checked, so flags can
    supply what the file lacks: `runhub launch - --set pipeline=greet </dev/null`.

    The backend is --backend, else the spec's backend, else the profile's default
    backend, else local. Prints the run reference (BACKEND:ID); with --wait, then
    each state change and finally the outputs, exiting 0 if the run succeeded and
    1 if it failed or was cancelled (124 if --timeout passed first).

    \b
    Examples:
      runhub launch examples/hello --wait
      runhub launch run.yaml --backend ica --set parameters.threads=8 --name s1
      runhub launch run.yaml --dry-run
    """
    from runhub.cli.helpers.specs import build_spec, parse_overrides, resolve_backend

    if timeout is not None and not wait:
        raise click.UsageError("--timeout only applies with --wait")
    run_spec = build_spec(spec, parse_overrides(overrides, name), params_file)
    chosen = resolve_backend(backend, run_spec, session.profile)
    session.only(chosen)
    if dry_run and session.builtin(chosen):
        # A built-in backend (local) does no HTTP: describe the launch without
        # loading the client, the transport or the ledger (start-up budget).
        light = session.light()
        described, checked = light._prepare(run_spec, chosen)
        _show_description(chosen, described.describe_launch(checked), light.redact, output)
        return
    client = session.client()
    if dry_run:
        _show_dry_run(client, run_spec, chosen, output)
        return
    from runhub.cli.helpers.transfers import shown

    with shown(client, enabled=output != "json"):  # local mounts upload first
        status = client.launch(run_spec, chosen)
    if not wait:
        if output == "json":
            render.echo_json(status.to_dict())
        else:
            click.echo(str(status.ref))
        return
    if output != "json":
        click.echo(str(status.ref))
    final = _follow(client, status, timeout, quiet=output == "json", every=poll)
    found = _outputs_if_ok(client, final)
    if output == "json":
        listed = None if found is None else [o.to_dict() for o in found]
        render.echo_json({"run": final.to_dict(), "outputs": listed})
    elif found is not None:
        click.echo(render.outputs_table(found) if found else "(no outputs)")
    _exit_for(final, output)


def _show_dry_run(client: Client, spec: RunSpec, backend: str, output: str) -> None:
    chosen = client.backend(backend)
    if not chosen.capabilities.http:  # local: describe it without loading the transport
        client.validate(spec, backend)
        _show_description(backend, chosen.describe_launch(spec), client.redact, output)
        return
    dry = client.dry_run(spec, backend)
    if output == "json":
        request = dry.request
        render.echo_json(
            {
                "backend": backend,
                "lookups": [
                    {"method": r.method, "url": client.redact(str(r.url))} for r in dry.lookups
                ],
                "request": None if request is None else _request_dict(client, request),
                "description": dry.description,
            }
        )
        return
    for lookup in dry.lookups:
        click.echo(client.redact(f"# looked up: {lookup.method} {lookup.url}"))
    if dry.request is not None:
        click.echo(f"# would send to {backend} (not sent):")
        click.echo(dry.render(client.redact))
    else:
        click.echo(f"# {backend} backend: nothing launched; a launch would run:")
        click.echo(client.redact(_plain(dry.description)))


def _show_description(
    backend: str, description: object, redact: Callable[[str], str], output: str
) -> None:
    if output == "json":
        render.echo_json(
            {"backend": backend, "lookups": [], "request": None, "description": description}
        )
        return
    click.echo(f"# {backend} backend: nothing launched; a launch would run:")
    click.echo(redact(_plain(description)))


def _plain(description: object) -> str:
    """A backend's launch description as ``key: value`` lines (commands shell-quoted)."""
    import json
    import shlex

    if isinstance(description, str):
        return description
    if not isinstance(description, dict):
        return json.dumps(description, indent=2, default=str)
    lines = []
    for key, value in description.items():
        if isinstance(value, list):
            lines.append(f"{key}: {shlex.join(str(v) for v in value)}")
        elif isinstance(value, dict):
            lines.append(f"{key}:" if value else f"{key}: -")
            lines.extend(f"  {k} -> {v}" for k, v in value.items())
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


def _request_dict(client: Client, request: httpx.Request) -> dict[str, object]:
    import json

    body: object = None
    if request.content:
        text = client.redact(request.content.decode("utf-8", errors="replace"))
        try:
            body = json.loads(text)
        except ValueError:
            body = text
    return {
        "method": request.method,
        "url": client.redact(str(request.url)),
        "headers": client.redact.headers(request.headers),
        "body": body,
    }


def _follow(
    client: Client,
    first: RunStatus,
    timeout: float | None,
    *,
    quiet: bool = False,
    every: float | None = None,
) -> RunStatus:
    """Poll until the run ends, printing each change of state as it is seen."""
    from runhub.client import PollSchedule
    from runhub.errors import WaitTimeout

    backend = client.backend(first.ref.backend)
    # Status of a local run is a file read; remote platforms get the gentle default.
    poll = PollSchedule() if backend.capabilities.http else PollSchedule(initial=0.2, cap=2.0)
    if every is not None:  # --poll: a fixed interval
        poll = PollSchedule(initial=every, factor=1.0, cap=every, jitter=0.0)
    shown = [(first.state, first.native)]

    def show(status: RunStatus) -> None:
        mark = (status.state, status.native)
        if mark != shown[-1] and not quiet:
            click.echo(render.change_line(status))
        shown.append(mark)

    if not quiet:
        click.echo(render.change_line(first))
    if first.is_terminal:
        return first
    try:
        return client.wait(first.ref, timeout, poll, on_change=show)
    except WaitTimeout as exc:
        raise WaitTimeout(f"{exc} (resume with: runhub wait {first.ref})", last=exc.last) from None


def _outputs_if_ok(client: Client, final: RunStatus) -> list[Output] | None:
    """The outputs of a run that succeeded, if the backend lists outputs."""
    if final.ok and client.backend(final.ref.backend).capabilities.outputs:
        return client.outputs(final.ref)
    return None


def _exit_for(final: RunStatus, output: str) -> None:
    """Exit 1 (with a note on stderr) unless the run succeeded."""
    if final.ok:
        return
    if output != "json":
        why = f": {final.message}" if final.message else ""
        click.echo(f"runhub: {final.ref} ended {final.state.value}{why}", err=True)
    click.get_current_context().exit(1)


COMMANDS = (launch,)
