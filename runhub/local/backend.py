"""The ``local`` backend: runs a pipeline directory on this machine.

A pipeline is a directory holding an executable ``run`` (or ``code/run``, the Code
Ocean capsule layout). Each launch gets a run directory under the runhub home,
``runs/<run-id>/``, with ``data/`` (links to the mounts), ``results/`` and
``logs/``; ``run`` starts there under a small supervisor that outlives the
launching process (see :mod:`runhub.local.supervise`). Every operation returns a
plain value: there is no HTTP.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import shutil
import signal
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field

from runhub.backend import Backend, Capabilities, Output, RunRef
from runhub.config import BackendSettings, runhub_home
from runhub.errors import ConfigError, NotFound, SpecError
from runhub.local import rundir as rd
from runhub.local.inputs import entrypoint, mount_targets
from runhub.local.params import arguments, check_options, text
from runhub.local.spawn import (
    SPAWN_TIMEOUT,
    Spawner,
    age,
    alive,
    claim_start,
    never_started,
    starting,
)
from runhub.spec import RunSpec
from runhub.state import RunState, RunStatus

if TYPE_CHECKING:
    from runhub.detail import LogText, RunDetail

log = logging.getLogger("runhub.local")

#: How long ``cancel`` waits for the supervisor to record the end of the run.
CANCEL_WAIT = 2.0


class LocalSettings(BackendSettings):
    """Settings of the local backend (environment variables ``RUNHUB_LOCAL_*``)."""

    env_prefix: ClassVar[str] = "RUNHUB_LOCAL_"

    #: Where run directories live: ``RUNHUB_HOME``, else the platform's data dir.
    home: Path = Field(default_factory=runhub_home, validation_alias="RUNHUB_HOME")
    #: Seconds between SIGTERM and SIGKILL when a run is cancelled.
    cancel_grace: float = Field(10.0, gt=0)


class LocalBackend(Backend):
    """Runs capsule-style pipeline directories here, detached from the caller."""

    name = "local"
    settings_model = LocalSettings
    capabilities = Capabilities(
        detail=True,
        logs=("stdout", "stderr"),
        http=False,
        cancel=True,
        outputs=True,
        download=True,
        ordered_parameters=True,
        named_parameters=True,
        processes=False,
        tags=True,
        idempotent_launch=True,
    )
    states = {
        rd.QUEUED: RunState.QUEUED,
        rd.RUNNING: RunState.RUNNING,
        "CANCELLING": RunState.CANCELLING,
        rd.SUCCEEDED: RunState.SUCCEEDED,
        rd.FAILED: RunState.FAILED,
        rd.CANCELLED: RunState.CANCELLED,
    }

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._spawner = Spawner()

    @property
    def home(self) -> Path:
        """The runhub home this backend keeps its runs in."""
        home = getattr(self.settings, "home", None)
        return Path(home) if home is not None else runhub_home()

    @property
    def grace(self) -> float:
        return float(getattr(self.settings, "cancel_grace", 10.0))

    # -- offline -----------------------------------------------------------------

    def validate(self, spec: RunSpec) -> None:
        """Check the spec can run here: pipeline, ``run`` executable, mount sources."""
        super().validate(spec)
        if spec.version is not None:
            raise SpecError(
                "the local backend runs the pipeline directory as it is; it has no versions",
                field="version",
                hint="remove version from the spec",
            )
        if spec.outputs is not None:
            raise SpecError(
                "the local backend writes results into the run directory",
                field="outputs",
                hint="remove outputs; `runhub outputs` lists the results",
            )
        check_options(spec.backend_options(self.name))
        entrypoint(spec.pipeline)
        mount_targets(spec)

    def describe_launch(self, spec: RunSpec) -> dict[str, Any]:
        """What a launch would run: the command, the data links, where runs go."""
        self.validate(spec)
        return {
            "command": [str(entrypoint(spec.pipeline)), *arguments(spec.parameters)],
            "data": {f"data/{k}": str(v) for k, v in mount_targets(spec).items()},
            "runs": str(self.home / "runs"),
        }

    # -- operations ----------------------------------------------------------------

    def launch(self, spec: RunSpec, key: str, *, batch: str | None = None) -> RunStatus:
        """Create the run directory, link the mounts and start ``run`` detached.

        A second launch with the same ``key`` returns the run the first one made.
        """
        self.validate(spec)
        self._spawner.reap()
        home = self.home
        existing = _read_key(home, key)
        if existing is not None:
            earlier = rd.RunDir(home / "runs" / existing)
            if earlier.path.is_dir():
                return self._resume(earlier, batch)
            rd.key_file(home, key).unlink(missing_ok=True)  # its run was deleted: start afresh
        run = self._create(spec, key, batch)
        holder = rd.claim_key(home, key, run.run_id)
        if holder is not None:  # another launch with this key won the race
            shutil.rmtree(run.path, ignore_errors=True)
            return self._resume(rd.RunDir(home / "runs" / holder), batch)
        self._spawner.spawn(run)
        log.debug("launched local:%s in %s", run.run_id, run.path)
        return self._status(run, batch)

    def status(self, ref: RunRef) -> RunStatus:
        """The run's state as its supervisor last recorded it."""
        self._spawner.reap()
        return self._status(self._rundir(ref), ref.batch)

    def statuses(self, refs: Sequence[RunRef]) -> list[RunStatus]:
        """The status of each run, in the order given."""
        self._spawner.reap()
        return [self.status(ref) for ref in refs]

    def cancel(self, ref: RunRef) -> RunStatus:
        """SIGTERM the run's process group (SIGKILL after the grace period).

        Waits up to :data:`CANCEL_WAIT` seconds for the run to end, so the answer is
        usually CANCELLED; otherwise it is CANCELLING and ``wait`` sees the rest.
        """
        run = self._rundir(ref)
        if run.state().get("state") in rd.TERMINAL:
            return self._status(run, ref.batch)
        run.cancel_file.touch()
        self._spawner.reap()
        pid = run.supervisor_pid()
        deadline = time.monotonic() + CANCEL_WAIT
        while pid is None and starting(run) and time.monotonic() < deadline:
            time.sleep(0.01)  # its supervisor is starting: it will see the cancel file
            pid = run.supervisor_pid()
        if pid is None and (claim := claim_start(run)) is not None:
            claim.close()  # never started, and now nobody will start it
            run.update_state(
                state=rd.CANCELLED, ended=rd.now(), message="cancelled before it started"
            )
        elif pid is not None and alive(pid, run):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            log.debug("cancel local:%s: SIGTERM to supervisor %d", run.run_id, pid)
        elif pid is not None:  # the supervisor is gone: stop what is left ourselves
            child = run.state().get("pid")
            if isinstance(child, int):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child, signal.SIGKILL)
            run.update_state(state=rd.CANCELLED, ended=rd.now(), message="cancelled")
        deadline = time.monotonic() + CANCEL_WAIT
        while run.state().get("state") not in rd.TERMINAL and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._status(run, ref.batch)

    def outputs(self, ref: RunRef) -> list[Output]:
        """Every file under the run's ``results/``, paths relative to it."""
        results = self._rundir(ref).results
        found = []
        for folder, _dirs, files in os.walk(results):
            for file in files:
                path = Path(folder) / file
                with contextlib.suppress(OSError):
                    found.append(
                        Output(
                            path=path.relative_to(results).as_posix(),
                            size=path.stat().st_size,
                            kind="file",
                            id=str(path),
                        )
                    )
        return sorted(found, key=lambda out: out.path)

    def download_urls(self, ref: RunRef, outputs: Sequence[Output]) -> list[Output]:
        """The outputs with ``file://`` URLs of the files in the run's ``results/``."""
        results = self._rundir(ref).results
        return [
            replace(o, url=(results / o.path).resolve().as_uri()) if o.kind == "file" else o
            for o in outputs
        ]

    # -- helpers -------------------------------------------------------------------

    def _create(self, spec: RunSpec, key: str, batch: str | None) -> rd.RunDir:
        runs = self.home / "runs"
        try:
            runs.mkdir(parents=True, exist_ok=True)
            while True:
                run = rd.RunDir(runs / rd.new_run_id())
                try:
                    run.path.mkdir()
                    break
                except FileExistsError:  # same second, same 32 random bits: draw again
                    continue
        except OSError as exc:
            raise ConfigError(
                f"cannot create a run directory in {runs}: {exc.strerror}",
                hint="set RUNHUB_HOME to a folder you can write to",
            ) from None
        try:
            self._fill(run, spec, key, batch)
        except BaseException:
            shutil.rmtree(run.path, ignore_errors=True)  # no half-made run left behind
            raise
        return run

    def _fill(self, run: rd.RunDir, spec: RunSpec, key: str, batch: str | None) -> None:
        for sub in (run.logs, run.data, run.results):
            sub.mkdir()
        for target, source in mount_targets(spec).items():
            link = run.data / target
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(source, target_is_directory=source.is_dir())
        run_file = entrypoint(spec.pipeline)
        extra = spec.backend_options(self.name).get("env") or {}
        env = {str(name): text(value) for name, value in extra.items()}
        env.update(
            RUNHUB_RUN_ID=run.run_id,
            RUNHUB_RUN_DIR=str(run.path),
            RUNHUB_PIPELINE_DIR=str(Path(spec.pipeline).resolve()),
        )
        rd.write_json_atomic(
            run.launch_file,
            {"argv": [str(run_file), *arguments(spec.parameters)], "env": env, "grace": self.grace},
        )
        rd.write_json_atomic(run.spec_file, {"spec": spec.to_data(), "key": key, "batch": batch})
        rd.write_json_atomic(
            run.state_file, {"state": rd.QUEUED, "created": rd.now(), "name": spec.name}
        )

    def _resume(self, run: rd.RunDir, batch: str | None) -> RunStatus:
        """The status of a run launched earlier with the same key, starting it if the
        launch that created it stopped before starting it (a crash)."""
        if run.state().get("state") == rd.QUEUED and run.supervisor_pid() is None:
            log.debug("local:%s was never started; starting it now", run.run_id)
            self._spawner.spawn(run)
        return self._status(run, batch)

    def detail(self, ref: RunRef) -> RunDetail:
        """The spec as launched and the run's state (see :mod:`runhub.local.inspect`)."""
        from runhub.local import inspect

        run = self._rundir(ref)
        return inspect.detail(run, self._status(run, ref.batch))

    def logs(self, ref: RunRef, stream: str = "stdout") -> LogText:
        """``logs/<stream>.log`` as written so far."""
        from runhub.local import inspect

        run = self._rundir(ref)
        return inspect.logs(run, self._status(run, ref.batch), stream)

    def close(self) -> None:
        """Reap the supervisors' first processes; the runs themselves go on."""
        self._spawner.close()

    def _rundir(self, ref: RunRef) -> rd.RunDir:
        runs = self.home / "runs"
        if ref.backend == self.name and rd.is_run_id(ref.id) and (runs / ref.id).is_dir():
            return rd.RunDir(runs / ref.id)
        known = sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []
        raise NotFound(
            f"no local run {ref.id!r} in {runs}",
            candidates=[f"local:{c}" for c in difflib.get_close_matches(ref.id, known, n=3)],
            status=None,
        )

    def _status(self, run: rd.RunDir, batch: str | None = None) -> RunStatus:
        data = run.state()
        native = data.get("state")
        if native not in rd.TERMINAL:
            pid = run.supervisor_pid()
            if pid is None and starting(run) and age(run) > SPAWN_TIMEOUT:
                data = never_started(run, f"no supervisor after {SPAWN_TIMEOUT:g} s")
            elif pid is not None and not alive(pid, run):
                data = run.state()  # it may have finished between the two reads
                if data.get("state") not in rd.TERMINAL:
                    data = run.update_state(
                        state=rd.FAILED,
                        ended=rd.now(),
                        message=f"the run's supervisor (pid {pid}) is gone; see "
                        f"{run.logs / 'supervisor.log'}",
                    )
            elif run.cancel_requested():
                data = {**data, "state": "CANCELLING"}
        native = data.get("state")
        text = native if isinstance(native, str) else None
        return RunStatus(
            ref=RunRef(self.name, run.run_id, batch),
            state=self.state_of(text),
            native=text,
            message=data.get("message"),
            created=_time(data.get("created")),
            started=_time(data.get("started")),
            ended=_time(data.get("ended")),
            exit_code=data.get("exit_code"),
            name=data.get("name"),
            extra={
                "run_dir": str(run.path),
                "stdout": str(run.logs / "stdout.log"),
                "stderr": str(run.logs / "stderr.log"),
            },
        )


def _read_key(home: Path, key: str) -> str | None:
    try:
        return rd.key_file(home, key).read_text(encoding="ascii").strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


__all__ = ["LocalBackend", "LocalSettings"]
