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
    "--params-file", metavar="FILE", help="Parameters from a YAML/JSON file (as for launch)."
)
@click.option(
    "--remote",
    is_flag=True,
    help="Also check pipeline, inputs, data and storage on the platform (read-only requests).",
)
@output_option
@pass_session
def validate(
    session: Session,
    spec: str,
    backend: str | None,
    overrides: tuple[str, ...],
    params_file: str | None,
    remote: bool,
    output: str,
) -> None:
    """Check SPEC without launching: the model and the backend's own rules, offline.

    With --remote, also make every read-only lookup a launch would make and the
    backend's pre-flight checks (ICA: pipeline, input codes, data paths, storage;
    Code Ocean: the capsule or pipeline and each data asset), as `batch` does for
    every row before it launches. Exits 0 if valid, 2 if the spec is wrong, 3 or 4
    if the platform refused or could not be reached.

    \b
    Examples:
      runhub validate examples/hello
      runhub validate run.yaml --backend ica --remote
    """
    from runhub.cli.helpers.specs import build_spec, parse_overrides, resolve_backend
    from runhub.preflight import check

    run_spec = build_spec(spec, parse_overrides(overrides), params_file)
    chosen = resolve_backend(backend, run_spec, session.profile)
    session.only(chosen)
    client = session.client()
    client.validate(run_spec, chosen)
    lookups: list[str] = []
    if remote:
        lookups = [client.redact(f"{r.method} {r.url}") for r in check(client, run_spec, chosen)]
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
