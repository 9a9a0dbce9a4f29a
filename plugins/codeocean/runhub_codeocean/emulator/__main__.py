"""``python -m runhub_codeocean.emulator --host 127.0.0.1 --port PORT [--token T]
[--variance all|NAME,...]``.

Prints the URL once serving. ``--variance`` switches on documented readings of the
platform (:mod:`runhub_codeocean.emulator.variance`). ``--speed``, ``--faults``, ``--fault-kinds``,
``--latency`` and ``--seed`` come from :func:`runhub.testing.emulator.main`; the
token is ``--token``, else ``CODEOCEAN_EMULATOR_TOKEN``, else ``emulator-token``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from runhub.testing.emulator import Clock, main
from runhub_codeocean.emulator.app import DEFAULT_TOKEN, CodeOceanEmulator
from runhub_codeocean.emulator.variance import VARIANCE, readings

PROG = "python -m runhub_codeocean.emulator"


def run(argv: Sequence[str] | None = None) -> None:
    """Parse ``--token``/``--server-version``, then serve with the shared emulator main."""
    parser = argparse.ArgumentParser(prog=PROG, add_help=False)
    parser.add_argument(
        "--token", default=os.environ.get("CODEOCEAN_EMULATOR_TOKEN", DEFAULT_TOKEN)
    )
    parser.add_argument("--server-version", default="4.9.0")
    parser.add_argument("--variance", default="")
    args = sys.argv[1:] if argv is None else list(argv)
    ours, rest = parser.parse_known_args(args)
    if "-h" in args or "--help" in args:
        print(
            "Code Ocean emulator options: --token TOKEN, --server-version X.Y.Z,"
            f" --variance all|NAME,... ({', '.join(VARIANCE)})"
        )
    try:
        variance = readings(ours.variance)
    except ValueError as exc:
        parser.exit(2, f"{PROG}: error: --variance: {exc}\n")

    def make_app(speed: float) -> CodeOceanEmulator:
        return CodeOceanEmulator(
            token=ours.token,
            clock=Clock(speed),
            server_version=ours.server_version,
            variance=variance,
        )

    main(make_app, rest, prog=PROG)


if __name__ == "__main__":
    run()
