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

    stamina's own retry records are shown only at debug level: the transport already
    logs each failed attempt, and unconfigured they would reach stderr as a bare
    ``stamina.retry_scheduled``. Returns a function that puts both loggers back as
    they were, so running the CLI inside another program (or a test) leaves that
    program's logging alone.
    """
    level = level_for(verbose)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s: %(message)s", "%H:%M:%S"))
    stamina_level = level if level <= logging.DEBUG else logging.CRITICAL + 1
    undo = []
    for name, wanted in ((LOGGER, level), ("stamina", stamina_level)):
        logger = logging.getLogger(name)
        undo.append((logger, logger.level, logger.propagate))
        logger.setLevel(wanted)
        logger.addHandler(handler)
        logger.propagate = False

    def restore() -> None:
        for logger, old_level, old_propagate in undo:
            logger.removeHandler(handler)
            logger.setLevel(old_level)
            logger.propagate = old_propagate

    return restore
