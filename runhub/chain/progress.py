"""Where a chain stands, read from the ledger alone (no request).

A step of a row is the launch of batch ``<chain id>``, row key ``<row>/<step>``,
or a mark (skipped, failed to launch), or nothing yet (waiting). Its *outcome*,
once it has one, is ``succeeded``, ``failed`` (the run FAILED, or it never
launched), ``cancelled`` or ``skipped``. A row's verdict, once every step has
an outcome: ``failed`` if any step failed, else ``cancelled`` if any was, else
``succeeded`` (skipped steps count for nothing).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runhub.ledger.records import TERMINAL, VERDICT

if TYPE_CHECKING:
    from runhub.ledger.records import ChainRecord, Launch

WAITING = "waiting"
LAUNCHING = "launching"
SKIPPED = "skipped"
NOT_LAUNCHED = "failed to launch"

_OUTCOMES = {"SUCCEEDED": "succeeded", "FAILED": "failed", "CANCELLED": "cancelled"}


def row_key(row: str, step: str) -> str:
    """The ledger row key of one step of one row."""
    return f"{row}/{step}"


@dataclass(frozen=True)
class StepView:
    """One step of one row: its state (``waiting``, ``launching``, a RunState
    value, ``failed to launch`` or ``skipped``), run and message."""

    row: str
    step: str
    state: str
    ref: str | None = None
    message: str | None = None
    launch: Launch | None = field(default=None, compare=False, repr=False)

    @property
    def outcome(self) -> str | None:
        """succeeded, failed, cancelled or skipped once decided; None before."""
        if self.state == SKIPPED:
            return "skipped"
        if self.state == NOT_LAUNCHED:
            return "failed"
        return _OUTCOMES.get(self.state)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable shape."""
        return {
            "step": self.step,
            "state": self.state,
            "outcome": self.outcome,
            "ref": self.ref,
            "message": self.message,
        }


@dataclass(frozen=True)
class RowView:
    """One row's steps (in chain order) and its verdict, once it has one."""

    row: str
    cells: dict[str, str]
    steps: list[StepView]
    verdict: str | None

    def step(self, name: str) -> StepView:
        """The step called ``name``."""
        return next(s for s in self.steps if s.step == name)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable shape."""
        return {
            "row": self.row,
            "verdict": self.verdict,
            "steps": [s.to_dict() for s in self.steps],
        }


@dataclass(frozen=True)
class ChainView:
    """A chain and every row of it, as the ledger has it. ``problems`` are errors
    met while advancing that a later pass retries (a lost network)."""

    id: str
    name: str | None
    rows: list[RowView]
    problems: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """Every row has its verdict."""
        return all(r.verdict is not None for r in self.rows)

    @property
    def verdict(self) -> str | None:
        """failed, cancelled or succeeded once every row has its verdict."""
        if not self.finished:
            return None
        return worst(r.verdict for r in self.rows)

    def steps(self) -> Iterable[StepView]:
        """Every step of every row, rows in order."""
        for row in self.rows:
            yield from row.steps

    def to_dict(self) -> dict[str, Any]:
        """The shape ``runhub chain run/status -o json`` prints (docs/chains.md)."""
        return {
            "chain": self.id,
            "name": self.name,
            "verdict": self.verdict,
            "rows": [r.to_dict() for r in self.rows],
            "problems": list(self.problems),
        }


def worst(outcomes: Iterable[str | None]) -> str:
    """failed > cancelled > succeeded (skipped steps and None count for nothing)."""
    found = set(outcomes)
    if "failed" in found:
        return "failed"
    if "cancelled" in found:
        return "cancelled"
    return "succeeded"


def step_view(row: str, step: str, record: ChainRecord, launch: Launch | None) -> StepView:
    """What the ledger says of one step of one row."""
    if launch is not None and launch.ref is not None:
        return StepView(row, step, launch.state or "UNKNOWN", launch.ref, None, launch)
    if launch is not None and launch.error is not None:
        return StepView(row, step, NOT_LAUNCHED, None, launch.error, launch)
    mark = record.marks.get((row, step))
    if mark is not None:
        return StepView(row, step, mark.outcome, None, mark.message, launch)
    if launch is not None:
        return StepView(row, step, LAUNCHING, None, None, launch)
    return StepView(row, step, WAITING)


def view(
    record: ChainRecord,
    order: Sequence[str],
    launches: Sequence[Launch],
    problems: Sequence[str] = (),
) -> ChainView:
    """The chain as the ledger has it, steps in ``order``."""
    by_key = {launch.row_key: launch for launch in launches if launch.row_key}
    rows = []
    for row, cells in record.rows:
        steps = [step_view(row, s, record, by_key.get(row_key(row, s))) for s in order]
        mark = record.marks.get((row, VERDICT))
        rows.append(RowView(row, cells, steps, mark.outcome if mark else None))
    name = record.definition.get("name")
    return ChainView(record.id, name if isinstance(name, str) else None, rows, list(problems))


def unfinished_runs(current: ChainView) -> list[StepView]:
    """Steps whose run is launched and not yet terminal (as last recorded)."""
    return [s for s in current.steps() if s.ref is not None and s.state not in TERMINAL]


__all__ = [
    "LAUNCHING",
    "NOT_LAUNCHED",
    "SKIPPED",
    "WAITING",
    "ChainView",
    "RowView",
    "StepView",
    "row_key",
    "step_view",
    "unfinished_runs",
    "view",
    "worst",
]
