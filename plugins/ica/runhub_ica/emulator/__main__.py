"""``python -m runhub_ica.emulator --host 127.0.0.1 --port PORT [--speed S] [--faults RATE]
[--variance] [--refuse-tokens STATUS] [--token-seconds S] [--notify-every S]``.

``--notify-every`` delivers the notifications of its subscriptions (notify.py) every S
seconds.

Without the ``emulator`` extra it prints one line naming the install command and exits 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from runhub_ica.emulator import missing_extra


def run(argv: Sequence[str] | None = None) -> None:
    """Parse the ICA options, then serve (``runhub.testing.emulator.main`` does the rest)."""
    problem = missing_extra()
    if problem:
        print(f"python -m runhub_ica.emulator: {problem}", file=sys.stderr)
        raise SystemExit(2)
    from runhub.testing.emulator import Clock, main
    from runhub_ica.emulator.app import IcaEmulator

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--variance", action="store_true", help="every documented variance")
    parser.add_argument("--refuse-tokens", type=int, default=None, metavar="STATUS")
    parser.add_argument("--token-seconds", type=float, default=3600.0)
    parser.add_argument("--notify-every", type=float, default=None, metavar="SECONDS")
    ours, rest = parser.parse_known_args(argv)

    def make(speed: float) -> IcaEmulator:
        app = IcaEmulator(
            Clock(speed),
            variance=ours.variance,
            refuse_tokens=ours.refuse_tokens,
            token_seconds=ours.token_seconds,
        )
        if ours.notify_every:  # deliver notifications of its subscriptions on its own
            app.notifier.start(ours.notify_every)
        return app

    main(make, rest, prog="python -m runhub_ica.emulator")


if __name__ == "__main__":
    run()
