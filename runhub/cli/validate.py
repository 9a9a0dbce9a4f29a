"""``runhub validate``: check a spec offline, or on the platform with --remote."""

from __future__ import annotations

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.session import Session, output_option, pass_session


@click.command()
@click.argument("spec", metavar="SPEC")
@click.option("-b", "--backend", metavar="NAME", help="Check for this backend (as for launch).")
@click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a field first."
)
@click.option(
    "--remote",
    is_flag=True,
    help="Also resolve pipeline, storage and data on the platform (read-only requests).",
)
@output_option
@pass_session
def validate(
    session: Session,
    spec: str,
    backend: str | None,
    overrides: tuple[str, ...],
    remote: bool,
    output: str,
) -> None:
    """Check SPEC without launching: the model and the backend's own rules, offline.

    With --remote, also look up everything a launch would need on the platform
    (only read-only requests are sent). Exits 0 if valid, 2 if not.

    \b
    Examples:
      runhub validate examples/hello
      runhub validate run.yaml --backend ica --remote
    """
    from runhub.cli.helpers.specs import (
        apply_overrides,
        load_spec,
        parse_overrides,
        resolve_backend,
    )

    run_spec = apply_overrides(load_spec(spec), parse_overrides(overrides))
    chosen = resolve_backend(backend, run_spec, session.profile)
    session.only(chosen)
    client = session.client()
    client.validate(run_spec, chosen)
    lookups: list[str] = []
    if remote:
        dry = client.dry_run(run_spec, chosen)
        lookups = [client.redact(f"{r.method} {r.url}") for r in dry.lookups]
    if output == "json":
        render.echo_json(
            {"spec": spec, "backend": chosen, "valid": True, "remote": remote, "lookups": lookups}
        )
        return
    for line in lookups:
        click.echo(f"# looked up: {line}")
    checked = "offline and on the platform" if remote else "offline"
    click.echo(f"ok: {spec} is valid for {chosen} ({checked})")


COMMANDS = (validate,)
