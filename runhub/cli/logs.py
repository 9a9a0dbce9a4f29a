"""Logging for the CLI: the transport logs each request to the ``runhub`` logger;
the CLI decides whether those records reach stderr.

Quiet by default (errors reach the user as the one-line error message instead).
``-v`` shows each request and retry (INFO), ``-vv`` or ``RUNHUB_LOG=debug`` everything;
``RUNHUB_LOG`` takes debug, info, warning or error.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

LOGGER = "runhub"
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at emit time (test runners swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def level_for(verbose: int) -> int:
    """The log level from ``-v`` flags and ``RUNHUB_LOG`` (whichever shows more)."""
    from_env = _LEVELS.get(os.environ.get("RUNHUB_LOG", "").strip().lower(), logging.ERROR)
    from_flags = (logging.ERROR, logging.INFO)[verbose] if verbose < 2 else logging.DEBUG
    return min(from_env, from_flags)


def configure(verbose: int) -> Callable[[], None]:
    """Send ``runhub`` log records at the chosen level to stderr.

    Returns a function that puts the logger back as it was, so running the CLI
    inside another program (or a test) leaves that program's logging alone.
    """
    logger = logging.getLogger(LOGGER)
    saved = (logger.level, logger.propagate, list(logger.handlers))
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    logger.setLevel(level_for(verbose))
    logger.addHandler(handler)
    logger.propagate = False

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]

    return restore
