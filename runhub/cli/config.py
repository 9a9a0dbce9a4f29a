"""``runhub config``: where the profile file is, and a starting point for it."""

from __future__ import annotations

import click

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
