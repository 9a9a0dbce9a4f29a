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
    fate: str  # "succeeded" | "fail" | "crash" | "slow" | "nonzero"
    data_assets: list[dict[str, str]]
    parameters: list[dict[str, str]] | None
    processes: list[dict[str, Any]] | None
    nextflow_profile: str | None = None
    #: The release version run (None: the capsule itself).
    version: int | None = None
    #: Variance ``unknown-end-status``: failures end with end statuses the SDK lacks.
    unknown_end: bool = False
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
            if self.unknown_end:
                return "completed", "preempted", None, INITIALIZING + running / 2
            return "failed", None, None, INITIALIZING + running / 2
        if elapsed < INITIALIZING + running:
            return "running", None, None, elapsed
        if elapsed < total:
            return "finalizing", None, None, elapsed
        if self.fate == "fail":
            if self.unknown_end:
                return "completed", "timed_out", 0, total
            return "completed", "failed", 1, total
        if self.fate == "nonzero":
            return "completed", "succeeded", 3, total
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

    def results(
        self, now: float, folder: str, files: dict[str, int] = RESULT_FILES
    ) -> list[dict[str, Any]] | None:
        """The items of one result folder of ``files`` (None: no such folder)."""
        state = self.forced.get("state") or self.phase(now)[0]
        if state not in ("completed", "failed"):
            return [] if folder == "" else None
        prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
        items: dict[str, dict[str, Any]] = {}
        for path, size in files.items():
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


def reported_parameters(
    sent: dict[str, Any], target: Target, *, label_only: bool
) -> list[dict[str, str]] | None:
    """The ``parameters`` a computation reports for what was sent: ``{name, value}``
    for ordered ones; named ones also carry ``param_name`` unless ``label_only``
    (then they come in the app panel's order, by ``param_name``)."""
    if sent.get("parameters") is not None:
        return [
            {"name": target.ordered_label(i), "value": v} for i, v in enumerate(sent["parameters"])
        ]
    if sent.get("named_parameters") is not None:
        reported = []
        named = sent["named_parameters"]
        if label_only:  # in the app panel's order, not the order sent
            named = sorted(named, key=lambda p: str(p["param_name"]))
        for param in named:
            key = param["param_name"]
            if label_only:
                reported.append({"name": target.label(key), "value": param["value"]})
            else:
                reported.append({"name": key, "param_name": key, "value": param["value"]})
        return reported
    return None


def reported_assets(
    sent: list[dict[str, str]], defaults: dict[str, str], target: Target, *, attached: bool
) -> list[dict[str, str]]:
    """The ``data_assets`` a computation reports: those sent (at their default
    mount when none was given) and, if ``attached``, the target's own attached
    assets whose mount no sent asset took."""
    reported = [{"id": a["id"], "mount": a.get("mount") or defaults[a["id"]]} for a in sent]
    if attached:
        taken = {a["mount"] for a in reported}
        reported += [{"id": i, "mount": m} for i, m in target.attached if m not in taken]
    return reported
