"""``runhub backends``: what is installed, where it came from, what it can do."""

from __future__ import annotations

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.session import output_option

#: Capability flags shown in the table (in this order) when they are on.
_SHOWN = (
    "cancel",
    "cancel_is_destructive",
    "outputs",
    "download",
    "ordered_parameters",
    "named_parameters",
    "processes",
    "tags",
    "version",
    "outputs_path",
    "batch_status",
    "idempotent_launch",
    "detail",
    "remote_runs",
)


@click.command()
@output_option
def backends(output: str) -> None:
    """List installed backends, their plugin and capabilities, and plugins that failed to load."""
    from runhub.plugins import registry

    found = registry()
    infos = [found.backends[name] for name in sorted(found.backends)]
    if output == "json":
        render.echo_json(
            {
                "backends": [
                    {
                        "name": info.cls.name,
                        "plugin": info.plugin,
                        "distribution": info.distribution,
                        "version": info.version,
                        "capabilities": info.cls.capabilities.model_dump(),
                    }
                    for info in infos
                ],
                "failures": [{"plugin": f.plugin, "error": f.error} for f in found.failures],
            }
        )
        return
    click.echo(
        render.table(
            ("NAME", "FROM", "CAPABILITIES"),
            (
                (
                    info.cls.name,
                    " ".join(p for p in (info.distribution, info.version) if p),
                    ", ".join(_shown(info.cls.capabilities)),
                )
                for info in infos
            ),
        )
    )
    if found.failures:
        click.echo("\nplugins that failed to load (skipped):")
        click.echo(render.table(("PLUGIN", "ERROR"), ((f.plugin, f.error) for f in found.failures)))


def _shown(capabilities: object) -> list[str]:
    """The capabilities a backend has; ``logs`` with its streams (``logs:stdout+stderr``)."""
    found = [c for c in _SHOWN if getattr(capabilities, c)]
    streams = getattr(capabilities, "logs", ())
    if streams:
        found.append("logs:" + "+".join(streams))
    return found
