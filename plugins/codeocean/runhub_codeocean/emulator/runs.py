"""One emulated computation and how it progresses over emulated time."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runhub_codeocean.emulator.seed import RESULT_FILES, Target

#: Emulated seconds spent in each phase of a normal run.
INITIALIZING = 1.0
RUNNING = 3.0
FINALIZING = 1.0
#: A ``slow`` run keeps running this long (tests cancel it first).
SLOW = 1_000_000.0


@dataclass
class Run:
    """A computation: what was asked, when it started, and its scripted fate."""

    id: str
    target: Target
    created: int
    started: float  # emulated clock seconds
    name: str
    fate: str  # "succeeded" | "fail" | "crash" | "slow"
    data_assets: list[dict[str, str]]
    parameters: list[dict[str, str]] | None
    processes: list[dict[str, Any]] | None
    nextflow_profile: str | None = None
    #: Fields forced by a test (``CodeOceanEmulator.force``).
    forced: dict[str, Any] = field(default_factory=dict)

    def _running_for(self) -> float:
        return SLOW if self.fate == "slow" else RUNNING

    def phase(self, now: float) -> tuple[str, str | None, int | None, float]:
        """``(state, end_status, exit_code, run_time)`` at emulated time ``now``."""
        elapsed = max(0.0, now - self.started)
        running = self._running_for()
        total = INITIALIZING + running + FINALIZING
        if elapsed < INITIALIZING:
            return "initializing", None, None, elapsed
        if self.fate == "crash" and elapsed >= INITIALIZING + running / 2:
            return "failed", None, None, INITIALIZING + running / 2
        if elapsed < INITIALIZING + running:
            return "running", None, None, elapsed
        if elapsed < total:
            return "finalizing", None, None, elapsed
        if self.fate == "fail":
            return "completed", "failed", 1, total
        return "completed", "succeeded", 0, total

    def to_json(self, now: float) -> dict[str, Any]:
        """The ``Computation`` object the API returns."""
        state, end_status, exit_code, run_time = self.phase(now)
        data: dict[str, Any] = {
            "id": self.id,
            "created": self.created,
            "name": self.name,
            "owner": "emulator-user",
            "owner_email": "emulator@example.org",
            "run_time": int(run_time),
            "state": state,
            "cloud_workstation": False,
            "data_assets": self.data_assets,
            "has_results": state == "completed",
        }
        if self.parameters is not None:
            data["parameters"] = self.parameters
        if self.processes is not None:
            data["processes"] = self.processes
        if self.nextflow_profile:
            data["nextflow_profile"] = self.nextflow_profile
        if end_status is not None:
            data["end_status"] = end_status
            data["exit_code"] = exit_code
        data.update(self.forced)
        return {k: v for k, v in data.items() if v is not None}

    def results(self, now: float, folder: str) -> list[dict[str, Any]] | None:
        """The items of one result folder (None: no such folder)."""
        state = self.forced.get("state") or self.phase(now)[0]
        if state not in ("completed", "failed"):
            return [] if folder == "" else None
        prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
        items: dict[str, dict[str, Any]] = {}
        for path, size in RESULT_FILES.items():
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :]
            head, sep, _ = rest.partition("/")
            if sep:
                items.setdefault(head, {"name": head, "path": prefix + head, "type": "folder"})
            else:
                items[head] = {"name": head, "path": path, "size": size, "type": "file"}
        if prefix and not items:
            return None
        return sorted(items.values(), key=lambda item: str(item["path"]))
