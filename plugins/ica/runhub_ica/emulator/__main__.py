"""``python -m runhub_ica.emulator --host 127.0.0.1 --port PORT [--speed S] [--faults RATE]``."""

from __future__ import annotations

from runhub.testing.emulator import Clock, main
from runhub_ica.emulator.app import IcaEmulator


def _make(speed: float) -> IcaEmulator:
    return IcaEmulator(Clock(speed))


if __name__ == "__main__":
    main(_make, prog="python -m runhub_ica.emulator")
