"""What every command shares: the global options and one lazily built Client."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from runhub.client import AsyncClient, Client
    from runhub.clientbase import _ClientBase
    from runhub.ledger import Ledger
    from runhub.plugins import Registry

F = TypeVar("F", bound=Callable[..., Any])

#: Where the real ``-o`` choice is kept when it is ``yaml`` (commands see ``json``).
FORMAT_KEY = "runhub.format"
#: Set by ``--wide``: tables keep every cell whole.
WIDE_KEY = "runhub.wide"


@dataclass
class Session:
    """Global options, and the client the commands use (built on first need)."""

    profile: str | None = None
    #: ``-S BACKEND.FIELD=VALUE`` settings, as ``{backend: {field: value}}``.
    settings: dict[str, dict[str, str]] = field(default_factory=dict)
    _client: Client | None = field(default=None, repr=False)
    _ledger: Ledger | None = field(default=None, repr=False)
    _only: str | None = field(default=None, repr=False)

    def only(self, backend: str) -> None:
        """This invocation uses ``backend`` alone: when it is built in (local), the
        client skips importing the other plugins (they pull in httpx)."""
        self._only = backend

    def builtin(self, backend: str) -> bool:
        """True if ``backend`` is built into runhub (needs no plugin)."""
        from runhub.plugins import BUILTINS

        return backend in dict(BUILTINS)

    def light(self) -> _ClientBase:
        """Settings, backends and redaction without the clients' machinery (no
        asyncio, no transport, no ledger), for built-in backends' offline work."""
        from runhub.clientbase import _ClientBase

        return _ClientBase(profile=self.profile, settings=self.settings, plugins=self._plugins())

    def client(self) -> Client:
        """The library client for this invocation (imports httpx only now)."""
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def ledger(self) -> Ledger:
        """The ledger (RUNHUB_LEDGER, the profile's ``ledger``, else
        RUNHUB_HOME/ledger.sqlite), opened once per invocation and closed with it,
        so the file is whole on its own when the command ends."""
        if self._ledger is None:
            from runhub.ledger import Ledger

            self._ledger = Ledger(profile=self.profile)
        return self._ledger

    def _new_client(self) -> Client:
        from runhub.client import Client

        # Every launch is recorded before it is sent, so crash recovery can tell
        # this launch's run from others (RUNHUB_HOME/ledger.sqlite).
        return Client(
            profile=self.profile,
            settings=self.settings,
            ledger=self.ledger(),
            plugins=self._plugins(),
        )

    def _plugins(self) -> Registry | None:
        """Only the built-in backends when this invocation needs nothing else (no
        entry-point scan, no plugin imports); None lets the client load every plugin."""
        import importlib

        from runhub import __version__
        from runhub.plugins import BUILTINS, BackendInfo, Registry

        modules = dict(BUILTINS)
        if self._only is None or self._only not in modules:
            return None
        found = Registry()

        def register(cls: type[Any]) -> None:
            found.backends[cls.name] = BackendInfo(cls, self._only or "", "runhub", __version__)

        importlib.import_module(modules[self._only]).runhub_register_backends(register=register)
        return found

    def async_client(self) -> AsyncClient:
        """A new asyncio client with the same profile, settings and ledger."""
        from runhub.aio import AsyncClient

        return AsyncClient(profile=self.profile, settings=self.settings, ledger=self.ledger())

    def close(self) -> None:
        """Release the client and close the ledger (checkpointed into its file)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None


pass_session = click.make_pass_decorator(Session, ensure=True)


def parse_settings(items: Sequence[str]) -> dict[str, dict[str, str]]:
    """``-S BACKEND.FIELD=VALUE`` items as ``{backend: {field: value}}``."""
    found: dict[str, dict[str, str]] = {}
    for item in items:
        target, sep, value = item.partition("=")
        backend, dot, name = target.strip().partition(".")
        if not sep or not dot or not backend or not name:
            raise click.BadParameter(
                f"{item!r}: expected BACKEND.FIELD=VALUE (e.g. -S ica.project_id=...)",
                param_hint="'-S/--setting'",
            )
        found.setdefault(backend, {})[name.strip()] = value
    return found


def _remember_format(ctx: click.Context, _param: click.Parameter, value: str) -> str:
    ctx.meta[FORMAT_KEY] = value
    # Commands branch on "json" for machine output; YAML is the same data, rendered
    # differently by render.echo_json.
    return "json" if value == "yaml" else value


def output_option(func: F) -> F:
    """``-o table|json|yaml``; shapes are documented in docs/cli.md."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(["table", "json", "yaml"]),
        default="table",
        show_default=True,
        callback=_remember_format,
        help="Output format (json and yaml have the same documented shape).",
    )(func)


def quiet_option(func: F) -> F:
    """``-q``: print run references only, one per line."""
    return click.option("-q", "--quiet", is_flag=True, help="Print run references only.")(func)


def _remember_wide(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.find_root().meta[WIDE_KEY] = True
    return value


def wide_option(func: F) -> F:
    """``--wide``: never shorten refs or cut cells to fit the terminal."""
    return click.option(
        "--wide",
        is_flag=True,
        expose_value=False,
        callback=_remember_wide,
        help="Show every cell whole (by default tables fit the terminal; refs are shortened).",
    )(func)
