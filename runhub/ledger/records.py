"""What the ledger holds: an :class:`Intent` to launch, and the :class:`Launch` row.

Plain data with no storage behind it, shared by every store. The rule kept here:
a batch row's launch key is derived from its batch id and row key
(:func:`launch_key`), so a row has the same key in every ledger, and a platform
that remembers keys (ICA's ``Idempotency-Key`` replay, runhub's key tag) finds the
row's run even when the ledger that sent it is gone.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from runhub.ref import RunRef
    from runhub.state import RunStatus

#: States after which a run never changes again.
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED")
#: What ``runhub runs -s error`` selects: launches the platform refused (no run).
ERROR = "ERROR"
#: Separates a batch row's key from its attempt number (``<row key>@2``).
ATTEMPT_MARK = "@"


def launch_key(batch: str, row_key: str, attempt: int = 1) -> str:
    """The launch key of attempt ``attempt`` of row ``row_key`` of ``batch``.

    32 hex digits, like a random key. Attempt 1 is the row's first launch; a
    deliberate new launch of the same row (a relaunch) takes the next number, so
    it never replays the first one's answer.
    """
    text = f"runhub-launch-key/1\0{batch}\0{row_key}\0{attempt}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def random_key() -> str:
    """A fresh launch key for a launch that belongs to no batch row."""
    return uuid.uuid4().hex


class Intent(NamedTuple):
    """A launch about to happen: what :meth:`Ledger.intents` records.

    ``key`` is the caller's own launch key, if it chose one; otherwise a batch
    row gets :func:`launch_key` and any other launch a random key.
    """

    backend: str
    spec_hash: str
    batch: str | None = None
    row_key: str | None = None
    name: str | None = None
    key: str | None = None


@dataclass(frozen=True)
class Launch:
    """One row of the ledger.

    ``attempted_at`` is when the first request that could create the run was about
    to be sent, ``sent_at`` the latest such moment (a platform may still be
    creating a run sent then). ``claim_owner``/``claim_until`` are the lease of the
    process launching the row right now, if any.
    """

    key: str
    backend: str
    spec_hash: str
    batch: str | None
    row_key: str | None
    name: str | None
    ref: str | None
    state: str | None
    native: str | None
    error: str | None
    attempts: int
    created_at: float
    attempted_at: float | None
    launched_at: float | None
    updated_at: float
    ref_group: str | None = None
    claim_owner: str | None = None
    claim_until: float | None = None
    sent_at: float | None = None
    #: The backend's note of the request this row was sent in together with other
    #: rows (:mod:`runhub.grouplaunch`), written before it was sent; None if alone.
    launch_group: str | None = None

    def run_ref(self) -> RunRef | None:
        """The run's ref with its polling-group hint, once launched."""
        from runhub.ref import RunRef

        return None if self.ref is None else RunRef.parse(self.ref, batch=self.ref_group)

    def recorded_status(self) -> RunStatus | None:
        """The run's status as last recorded here (no request), once launched."""
        from runhub.state import RunState, RunStatus

        ref = self.run_ref()
        if ref is None:
            return None
        try:
            state = RunState(self.state or "UNKNOWN")
        except ValueError:
            state = RunState.UNKNOWN
        return RunStatus(ref, state, self.native, name=self.name)

    @property
    def launched(self) -> bool:
        """True once the platform's answer (a run ref) is recorded."""
        return self.ref is not None

    @property
    def attempted(self) -> bool:
        """True if a request that could have created the run may have been sent."""
        return self.attempted_at is not None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable shape (``runhub runs -o json``)."""
        return {
            "ref": self.ref,
            "name": self.name,
            "backend": self.backend,
            "batch": self.batch,
            "row": self.row_key,
            "state": self.state,
            "native": self.native,
            "error": self.error,
            "key": self.key,
            "created_at": iso(self.created_at),
            "launched_at": iso(self.launched_at),
            "updated_at": iso(self.updated_at),
        }


@dataclass(frozen=True)
class SpecRecord:
    """The spec a launch was made with, and the launch it repeats (if any)."""

    spec: dict[str, Any]
    previous: str | None


# A batch row's later attempts (relaunch, batch --retry-failed) are rows of their own
# whose row key is ``<row key>@<n>`` (n >= 2): every attempt keeps its run and its
# own derived launch key, and (batch, row) stays unique.


def attempt_of(row_key: str | None) -> int:
    """The attempt number a batch row key carries (1 for the first attempt)."""
    if not row_key:
        return 1
    base, mark, number = row_key.rpartition(ATTEMPT_MARK)
    return int(number) if mark and base and number.isdigit() else 1


def row_family(row_key: str) -> str:
    """The first attempt's row key, from any attempt's row key."""
    base, mark, number = row_key.rpartition(ATTEMPT_MARK)
    return base if mark and base and number.isdigit() else row_key


def attempt_key(row_key: str, attempt: int) -> str:
    """The row key of attempt number ``attempt`` of a row (1: the row key itself)."""
    family = row_family(row_key)
    return family if attempt <= 1 else f"{family}{ATTEMPT_MARK}{attempt}"


def iso(value: float | None) -> str | None:
    """Epoch seconds as ``2026-11-23T10:44:22Z`` (UTC), or None."""
    if value is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(value))


# -- chains (runhub.chain) ---------------------------------------------------------
# A chain's steps are launches of the batch ``<chain id>``, row key ``<row>/<step>``;
# what is not a launch (its definition, its rows, the steps that never became runs,
# the verdicts) is kept as below, so any process with the ledger can advance it.

#: The step name a row's verdict is marked under.
VERDICT = ""


class ChainMark(NamedTuple):
    """The outcome of a step that is not a run (``skipped``, ``failed to launch``),
    or (step :data:`VERDICT`) a row's verdict. The first mark of a (row, step) stays."""

    row: str
    step: str
    outcome: str
    message: str | None = None


@dataclass(frozen=True)
class ChainRecord:
    """A chain as the ledger keeps it: its definition (plain data, spec files
    inlined), its rows in order (row key, samplesheet cells), and its marks."""

    id: str
    definition: dict[str, Any]
    rows: list[tuple[str, dict[str, str]]]
    marks: dict[tuple[str, str], ChainMark]
    created_at: float

    def verdict(self, row: str) -> ChainMark | None:
        """The row's verdict, once it has one."""
        return self.marks.get((row, VERDICT))
