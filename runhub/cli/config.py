"""``runhub config``: where the profile file is, and a starting point for it."""

from __future__ import annotations

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.session import Session, output_option, pass_session

TEMPLATE = """\
# runhub profiles. Each top-level table is a profile; choose one with
# `runhub --profile NAME` or RUNHUB_PROFILE (default: "default"). Inside a profile,
# one table per backend holds its settings. Command-line flags and environment
# variables take precedence over this file. Prefer environment variables for secrets.

[default]
backend = "local"              # used when neither --backend nor the spec names one

# [default.ica]
# server_url = "ica.illumina.com"
# project_id = "00000000-0000-0000-0000-000000000000"

# ledger = "postgresql://me@db.example.org/runhub"   # a team's shared ledger

# [default.codeocean]
# url = "https://codeocean.example.org"

# [lab]
# backend = "codeocean"
"""


@click.group()
def config() -> None:
    """The profile file: settings per profile and backend (see README)."""


@config.command()
def path() -> None:
    """Print where the profile file is (RUNHUB_CONFIG, else the platform's config dir)."""
    from runhub.config import config_path

    click.echo(str(config_path()))


@config.command()
def init() -> None:
    """Create the profile file with a commented starting point (never overwrites)."""
    from runhub.config import config_path
    from runhub.errors import ConfigError

    target = config_path()
    if target.exists():
        raise ConfigError(f"{target} already exists; edit it instead")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(TEMPLATE, encoding="utf-8")
    click.echo(str(target))


@config.command()
@click.option("-b", "--backend", "only", metavar="NAME", help="Only this backend.")
@output_option
@pass_session
def show(session: Session, only: str | None, output: str) -> None:
    """Effective settings of every backend, with their source; secrets masked.

    Sources, strongest first: flag (-S BACKEND.FIELD=VALUE), env (the variable's
    name), profile (the profile file), default. The ledger line says which ledger
    commands record into (RUNHUB_LEDGER, the profile's `ledger`, or the default),
    with any password in its URL masked.
    """
    from runhub.cli.helpers.settingsview import effective
    from runhub.config import config_path, load_profile, profile_name
    from runhub.ledger.location import configured, masked
    from runhub.plugins import registry

    found = registry()
    names = [only] if only else sorted(found.backends)
    tables = load_profile(session.profile)
    rows = []
    for name in names:
        table = tables.get(name, {})
        rows.extend(
            effective(
                name,
                found.get(name).settings_model,
                flags=session.settings.get(name, {}),
                profile=table if isinstance(table, dict) else {},
                profile_name=profile_name(session.profile),
            )
        )
    ledger = configured(session.profile)
    if output == "json":
        render.echo_json(
            {
                "profile": profile_name(session.profile),
                "config": str(config_path()),
                "default_backend": tables.get("backend"),
                "ledger": {"value": masked(ledger.location), "source": ledger.source},
                "settings": [r.to_dict() for r in rows],
            }
        )
        return
    click.echo(f"# profile {profile_name(session.profile)} from {config_path()}")
    click.echo(f"# ledger {masked(ledger.location)} ({ledger.source})")
    click.echo(
        render.table(
            ("BACKEND", "SETTING", "VALUE", "SOURCE"),
            ((r.backend, r.field, r.shown(), r.source) for r in rows),
        )
    )
