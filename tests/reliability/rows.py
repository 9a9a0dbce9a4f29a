"""Rows of the test batches and the retry policy, without the emulators: the crash
driver imports this in a fresh process, where the ICA emulator's schema (libica)
would cost seconds to load."""

from __future__ import annotations

from typing import Any

from runhub.client import PollSchedule
from runhub.errors import AmbiguousLaunch, TransportError
from runhub.policy import RetryPolicy
from runhub.spec import RunSpec

FASTQC = "fastqc-0-12"
#: The Code Ocean emulator's QC capsule (named parameters).
QC_CAPSULE = "8d1e6c2a-4b7f-4e39-a0d2-5c3b9f17e6a4"
#: A parameter value that scripts an ICA emulator run to fail.
ICA_FAIL = "emulator:fail"
#: Errors a user re-running the batch would retry.
RETRYABLE = (AmbiguousLaunch, TransportError)

#: A read timeout short enough that ``slow`` answers (``SLOW`` s) outlast it.
READ_TIMEOUT = 0.3
SLOW = 0.6
#: Quick retries; many attempts, as a 20% fault rate calls for.
POLICY = RetryPolicy(
    attempts=10,
    budget=30.0,
    wait_initial=0.005,
    wait_max=0.05,
    wait_jitter=0.01,
    max_retry_after=0.05,
    read_timeout=READ_TIMEOUT,
    connect_timeout=2.0,
)
POLL = PollSchedule(initial=0.05, cap=0.2, jitter=0.0)


def spec_for(name: str, row: int, *, fail: bool = False) -> RunSpec:
    """Row ``row``'s run on platform ``name``; each row's parameters differ."""
    if name == "ica":
        params: dict[str, Any] = {"sample": f"S{row}"}
        if fail:
            params["mode"] = ICA_FAIL
        return RunSpec.from_data(
            {
                "backend": "ica",
                "pipeline": FASTQC,
                "name": f"row {row}",
                "mounts": [{"source": "/fastqs/", "input": "reads"}],
                "parameters": params,
            }
        )
    return RunSpec.from_data(
        {
            "backend": "codeocean",
            "pipeline": QC_CAPSULE,
            "name": f"row {row}",
            "parameters": {"NumFiles": str(row), "mode": "fail" if fail else "fast"},
        }
    )
