"""What every command shares: the global options and one lazily built Client."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from runhub.client import Client

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Session:
    """Global options, and the client the commands use (built on first need)."""

    profile: str | None = None
    _client: Client | None = field(default=None, repr=False)

    def client(self) -> Client:
        """The library client for this invocation (imports httpx only now)."""
        if self._client is None:
            self._client = self._new_client()
        return self._client

    def _new_client(self) -> Client:
        from runhub.client import Client
        from runhub.ledger import Ledger

        # Every launch is recorded before it is sent, so crash recovery can tell
        # this launch's run from others (RUNHUB_HOME/ledger.sqlite).
        return Client(profile=self.profile, ledger=Ledger())

    def close(self) -> None:
        """Release the client, if one was built."""
        if self._client is not None:
            self._client.close()
            self._client = None


pass_session = click.make_pass_decorator(Session, ensure=True)


def output_option(func: F) -> F:
    """``-o table|json``; JSON shapes are documented in docs/cli.md."""
    return click.option(
        "-o",
        "--output",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="Output format.",
    )(func)
