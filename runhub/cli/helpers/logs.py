"""Logging for the CLI: the transport logs each request to the ``runhub`` logger;
the CLI decides whether those records reach stderr.

Quiet by default (errors reach the user as the one-line error message instead),
except that a retry that waits more than a second says so
(``runhub: retrying in 4 s (2/5): connection refused``): a user staring at a silent
terminal should know runhub is waiting, and why. ``-v`` shows each request and retry
(INFO), ``-vv`` or ``RUNHUB_LOG=debug`` everything; ``RUNHUB_LOG`` takes debug,
info, warning or error.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

LOGGER = "runhub"
RETRY_LOGGER = "runhub.retry"
#: Retry waits longer than this are announced even when the CLI is quiet.
NOTICE_WAIT = 1.0
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


class _LongWaits(logging.Filter):
    """Only retry records whose wait is worth telling about."""

    def filter(self, record: logging.LogRecord) -> bool:
        return float(getattr(record, "runhub_wait", 0.0)) > NOTICE_WAIT


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
    wiring = [(LOGGER, level, handler), ("stamina", stamina_level, handler)]
    if level > logging.INFO:  # quiet: long retry waits still reach the user, briefly
        notice = _StderrHandler()
        notice.setFormatter(logging.Formatter("runhub: %(message)s"))
        notice.addFilter(_LongWaits())
        wiring.append((RETRY_LOGGER, logging.INFO, notice))
    for name, wanted, target in wiring:
        logger = logging.getLogger(name)
        undo.append((logger, target, logger.level, logger.propagate))
        logger.setLevel(wanted)
        logger.addHandler(target)
        logger.propagate = False

    def restore() -> None:
        for logger, target, old_level, old_propagate in undo:
            logger.removeHandler(target)
            logger.setLevel(old_level)
            logger.propagate = old_propagate

    return restore
