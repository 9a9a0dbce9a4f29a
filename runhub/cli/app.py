"""The click application behind ``runhub`` (loaded by :func:`runhub.cli.run`).

Start-up stays fast: this module imports only click; a command's module is
imported when that command runs (or help lists it), and command bodies import the
library (httpx, pydantic, yaml, rich) only when they need it.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

import click

from runhub import __version__
from runhub.cli import INTERRUPTED
from runhub.cli.helpers.logs import configure as _configure_logging
from runhub.cli.helpers.session import Session, parse_settings

#: Command name -> the module (under runhub.cli) and attribute defining it.
COMMANDS = {
    "launch": ("launch", "launch"),
    "batch": ("batch", "batch"),
    "chain": ("chain", "chain"),
    "relaunch": ("relaunch", "relaunch"),
    "runs": ("runs", "runs"),
    "ledger": ("ledger", "ledger"),
    "status": ("status", "status"),
    "show": ("show", "show"),
    "logs": ("logs", "logs"),
    "wait": ("wait", "wait"),
    "cancel": ("cancel", "cancel"),
    "outputs": ("outputs", "outputs"),
    "data": ("data", "data"),
    "capture": ("capture", "capture"),
    "validate": ("validate", "validate"),
    "backends": ("backends", "backends"),
    "events": ("events", "events"),
    "config": ("config", "config"),
    "completion": ("completion", "completion"),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when the command is needed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return None
        module = importlib.import_module(f"runhub.cli.{where[0]}")
        command: click.Command = getattr(module, where[1])
        _add_profile_option(command)
        return command


def _set_profile(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Session).profile = value


def _add_profile_option(command: click.Command) -> None:
    """``--profile NAME`` after any command too (``runhub runs --profile lab``)."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_profile_option(sub)
        return
    if any(p.name == "profile" for p in command.params):
        return
    command.params.append(
        click.Option(
            ["--profile"],
            metavar="NAME",
            expose_value=False,
            callback=_set_profile,
            help="Settings profile (same as 'runhub --profile NAME').",
        )
    )


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(
    __version__, "-V", "--version", prog_name="runhub", message="%(prog)s %(version)s"
)
@click.option(
    "--profile",
    metavar="NAME",
    envvar="RUNHUB_PROFILE",
    help="Settings profile from the config file (default: RUNHUB_PROFILE, else 'default').",
)
@click.option(
    "-S",
    "--setting",
    "settings",
    multiple=True,
    metavar="BACKEND.FIELD=VALUE",
    help="A backend setting for this command (beats env and profile). Repeatable.",
)
@click.option("-v", "--verbose", count=True, help="Log each request to stderr (-vv: everything).")
@click.pass_context
def cli(ctx: click.Context, profile: str | None, settings: tuple[str, ...], verbose: int) -> None:
    """Launch and track pipeline runs on ICA, Code Ocean, locally, and more.

    \b
    Exit codes: 0 ok, 1 run failed or cancelled, 2 usage/spec/config error,
    3 authentication, 4 platform or network error, 124 wait timed out,
    130 interrupted (Ctrl-C or SIGTERM).
    """
    ctx.call_on_close(_configure_logging(verbose))
    session = ctx.ensure_object(Session)
    session.profile = profile
    session.settings = parse_settings(settings)
    ctx.call_on_close(session.close)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; every expected failure is one line."""
    from runhub.errors import RunhubError

    try:
        result = cli.main(args=argv, prog_name="runhub", standalone_mode=False)
    except RunhubError as err:
        # A batch's problems (one per row) keep their lines; anything else is one line.
        _fail(str(err), lines=hasattr(err, "problems"))
        return err.exit_code
    except click.UsageError as err:
        if type(err).__name__ == "NoArgsIsHelpError" and err.ctx is not None:
            click.echo(err.ctx.get_help())  # bare `runhub` or `runhub config`: the help
            return 0
        where = err.ctx.command_path if err.ctx else "runhub"
        _fail(f"{err.format_message()} (see '{where} --help')")
        return 2
    except click.ClickException as err:
        _fail(err.format_message())
        return 2
    except click.Abort as err:  # click turns Ctrl-C (and EOF at a prompt) into Abort
        if isinstance(err.__cause__, KeyboardInterrupt):
            _fail(INTERRUPTED)
            return 130
        _fail("aborted")
        return 1
    except KeyboardInterrupt:
        _fail(INTERRUPTED)
        return 130
    except Exception as err:
        from runhub.cli.helpers.ledgerfail import problem

        line = problem(err)
        if line is None:
            raise
        _fail(line)
        return 2
    return result if isinstance(result, int) else 0


def _fail(message: str, *, lines: bool = False) -> None:
    if not lines:
        click.echo(f"runhub: error: {' '.join(message.split())}", err=True)
        return
    head, *rest = message.splitlines() or [""]
    click.echo(f"runhub: error: {' '.join(head.split())}", err=True)
    for line in rest:
        if line.strip():
            click.echo(f"  {' '.join(line.split())}", err=True)


__all__ = ["cli", "run"]
