"""The ``runhub`` command line.

This module stays tiny: ``runhub --version`` is answered here without importing
click; everything else loads the click application from :mod:`runhub.cli.app`,
whose command bodies import the library (httpx, pydantic, yaml, rich) only when
they run.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

_VERSION_FLAGS = (["--version"], ["-V"])
#: What Ctrl-C (or SIGTERM) prints, whenever it arrives, start-up included.
INTERRUPTED = "interrupted (runs already launched keep running; see 'runhub status')"


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code; every expected failure is one line.

    SIGTERM is handled like Ctrl-C (a KeyboardInterrupt where the command is), so
    a command stopped by a scheduler or ``kill`` prints the same resume line."""
    previous = _terminate_as_interrupt()
    try:
        args = list(sys.argv[1:] if argv is None else argv)
        if args in _VERSION_FLAGS:
            from runhub import __version__

            sys.stdout.write(f"runhub {__version__}\n")
            sys.stdout.flush()
            return 0
        from runhub.cli.app import run as run_app

        return run_app(args)
    except KeyboardInterrupt:  # during start-up, before the application catches it
        sys.stderr.write(f"runhub: error: {INTERRUPTED}\n")
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _terminate_as_interrupt() -> Any:
    """Route SIGTERM to KeyboardInterrupt (main thread, default handler only);
    the handler it replaced, to restore, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None  # someone embedding runhub chose their own
    return signal.signal(signal.SIGTERM, _interrupt)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        _skip_httpx_cli()
        code = run(argv)
    except KeyboardInterrupt:  # between entering main and run's own handler
        sys.stderr.write(f"runhub: error: {INTERRUPTED}\n")
        code = 130
    sys.exit(code)


def _skip_httpx_cli() -> None:
    # httpx imports its own command line (click, rich, pygments: 50-100 ms) whenever
    # rich is installed, as runhub's CLI needs it to be. This process is runhub's
    # command line and never runs httpx's: a None entry makes that one import fail,
    # which httpx expects (it then only lacks ``httpx.main``).
    if "httpx" not in sys.modules:
        sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def __getattr__(name: str) -> Any:
    if name == "cli":  # the click group, loaded on first use
        from runhub.cli.app import cli

        return cli
    raise AttributeError(f"module 'runhub.cli' has no attribute {name!r}")


__all__ = ["cli", "main", "run"]
