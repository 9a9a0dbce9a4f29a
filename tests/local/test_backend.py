"""The local backend, driven directly (no client): validation, launch, status, cancel."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runhub.backend import RunRef
from runhub.errors import ConfigError, NotFound, SpecError
from runhub.local import rundir as rd
from runhub.local.backend import LocalBackend, LocalSettings
from runhub.spec import RunSpec
from runhub.state import RunState, RunStatus

Waiter = Callable[[RunRef], RunStatus]
Maker = Callable[..., Path]


def spec_for(pipeline: Path, **fields: Any) -> RunSpec:
    return RunSpec.from_data({"pipeline": str(pipeline), **fields})


def results(status_extra: dict[str, Any], name: str) -> Any:
    return json.loads((Path(status_extra["run_dir"]) / "results" / name).read_text())


# -- validation ----------------------------------------------------------------------


def test_missing_pipeline_directory_is_a_spec_error(backend: LocalBackend, tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        backend.validate(spec_for(tmp_path / "nope"))
    assert err.value.field == "pipeline"
    assert "no pipeline directory" in str(err.value)


def test_pipeline_without_run_is_a_spec_error(backend: LocalBackend, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError, match="no run script"):
        backend.validate(spec_for(tmp_path / "empty"))


def test_pipeline_that_is_a_file_is_a_spec_error(backend: LocalBackend, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(SpecError, match="not a directory"):
        backend.validate(spec_for(tmp_path / "file"))


def test_run_that_is_not_executable_is_a_spec_error(backend: LocalBackend, tmp_path: Path) -> None:
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / "run").write_text("#!/bin/sh\n")
    with pytest.raises(SpecError) as err:
        backend.validate(spec_for(folder))
    assert err.value.field == "pipeline"
    assert "not executable" in str(err.value)
    assert "chmod +x" in str(err.value)


def test_missing_mount_source_is_a_spec_error_naming_the_mount(
    backend: LocalBackend, pipeline: Path, tmp_path: Path
) -> None:
    (tmp_path / "a.txt").write_text("a")
    spec = spec_for(
        pipeline, mounts=[{"source": str(tmp_path / "a.txt")}, {"source": str(tmp_path / "b")}]
    )
    with pytest.raises(SpecError) as err:
        backend.validate(spec)
    assert err.value.field == "mounts.1.source"


@pytest.mark.parametrize(
    ("mount_path", "problem"),
    [("/abs", "relative path"), ("../up", "relative path"), ("x/../../y", "relative path")],
)
def test_mount_path_must_stay_inside_data(
    backend: LocalBackend, pipeline: Path, tmp_path: Path, mount_path: str, problem: str
) -> None:
    (tmp_path / "a.txt").write_text("a")
    spec = spec_for(pipeline, mounts=[{"source": str(tmp_path / "a.txt"), "path": mount_path}])
    with pytest.raises(SpecError, match=problem) as err:
        backend.validate(spec)
    assert err.value.field == "mounts.0.path"


def test_two_mounts_on_one_path_are_rejected(
    backend: LocalBackend, pipeline: Path, tmp_path: Path
) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "reads.fq").write_text(name)
    mounts = [{"source": str(tmp_path / n / "reads.fq")} for n in ("a", "b")]
    with pytest.raises(SpecError, match="two mounts") as err:
        backend.validate(spec_for(pipeline, mounts=mounts))
    assert err.value.field == "mounts.1.path"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"version": 3}, "version"),
        ({"outputs": {"path": "/x"}}, "outputs"),
        ({"processes": {"step": ["1"]}}, "processes"),
        ({"options": {"local": {"gpu": True}}}, "options.local.gpu"),
        ({"options": {"local": {"env": ["A=1"]}}}, "options.local.env"),
        ({"options": {"local": {"env": {"A": [1]}}}}, "options.local.env.A"),
    ],
)
def test_what_the_local_backend_cannot_express_is_rejected(
    backend: LocalBackend, pipeline: Path, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(SpecError) as err:
        backend.validate(spec_for(pipeline, **fields))
    assert err.value.field == field


def test_other_backends_options_are_ignored(backend: LocalBackend, pipeline: Path) -> None:
    backend.validate(spec_for(pipeline, options={"ica": {"storage": "Small"}}))


def test_unwritable_home_is_a_config_error(tmp_path: Path, pipeline: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    backend = LocalBackend(LocalSettings(home=blocker / "home"))
    with pytest.raises(ConfigError, match="cannot create a run directory") as err:
        backend.launch(spec_for(pipeline), "k")
    assert "RUNHUB_HOME" in str(err.value)


def test_invalid_spec_starts_nothing(backend: LocalBackend, home: Path, tmp_path: Path) -> None:
    with pytest.raises(SpecError):
        backend.launch(spec_for(tmp_path / "nope"), "k")
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())


# -- launch and status -----------------------------------------------------------------


def test_successful_run_records_state_times_and_outputs(
    backend: LocalBackend, pipeline: Path, wait_for: Waiter
) -> None:
    launched = backend.launch(spec_for(pipeline, name="first"), "key-1")
    assert launched.ref.backend == "local"
    assert launched.name == "first"
    assert launched.state in (RunState.QUEUED, RunState.RUNNING, RunState.SUCCEEDED)
    done = wait_for(launched.ref)
    assert done.state is RunState.SUCCEEDED
    assert done.exit_code == 0
    assert done.created is not None
    assert done.started is not None
    assert done.ended is not None
    assert done.created <= done.started <= done.ended
    outputs = backend.outputs(done.ref)
    assert [o.path for o in outputs] == ["args.json", "data.json", "nested/env.json"]
    for out in outputs:
        assert out.kind == "file"
        assert out.size == Path(str(out.id)).stat().st_size > 0


def test_run_id_is_sortable_and_ref_text_round_trips(backend: LocalBackend, pipeline: Path) -> None:
    first = backend.launch(spec_for(pipeline), "a").ref
    second = backend.launch(spec_for(pipeline), "b").ref
    assert first != second
    stamp, _, suffix = first.id.partition("-")
    assert len(stamp) == len("20261123T031500")
    assert stamp[8] == "T"
    assert len(suffix) == 8
    int(suffix, 16)  # hex
    assert RunRef.parse(str(first)) == first
    assert str(first).startswith("local:")


def test_failed_run_reports_exit_code_and_stderr_tail(
    backend: LocalBackend, pipeline: Path, wait_for: Waiter
) -> None:
    params = {"exit": 3, "stderr": "reference genome missing"}
    done = wait_for(backend.launch(spec_for(pipeline, parameters=params), "k").ref)
    assert done.state is RunState.FAILED
    assert done.exit_code == 3
    assert done.message is not None
    assert "exit code 3" in done.message
    assert "reference genome missing" in done.message


def test_named_parameters_become_flags_lists_repeat_booleans_lowercase(
    backend: LocalBackend, pipeline: Path, wait_for: Waiter
) -> None:
    params = {"threads": 4, "sample": ["a b", "c"], "fast": True, "ratio": 0.5}
    done = wait_for(backend.launch(spec_for(pipeline, parameters=params), "k").ref)
    assert results(done.extra, "args.json") == [
        "--threads", "4", "--sample", "a b", "--sample", "c", "--fast", "true", "--ratio", "0.5",
    ]  # fmt: skip


def test_ordered_parameters_are_positional_and_never_go_through_a_shell(
    backend: LocalBackend, pipeline: Path, wait_for: Waiter
) -> None:
    params = ["75", 1, False, "$(touch pwned); echo *"]
    done = wait_for(backend.launch(spec_for(pipeline, parameters=params), "k").ref)
    assert results(done.extra, "args.json") == ["75", "1", "false", "$(touch pwned); echo *"]
    assert not (Path(done.extra["run_dir"]) / "pwned").exists()


def test_mounts_are_linked_under_data_and_env_is_set(
    backend: LocalBackend, pipeline: Path, tmp_path: Path, wait_for: Waiter
) -> None:
    (tmp_path / "reads.fq").write_text("@r\nACGT\n+\nIIII\n")
    (tmp_path / "ref").mkdir()
    (tmp_path / "ref" / "genome.fa").write_text(">c\nACGT\n")
    spec = spec_for(
        pipeline,
        mounts=[
            {"source": str(tmp_path / "reads.fq")},
            {"source": str(tmp_path / "ref"), "path": "refs/hg"},
        ],
        options={"local": {"env": {"HELLO_MODE": "fast", "HELLO_ON": True}}},
    )
    done = wait_for(backend.launch(spec, "k").ref)
    assert done.ok
    assert results(done.extra, "data.json") == ["reads.fq", "refs", "refs/hg"]
    data = Path(done.extra["run_dir"]) / "data"
    assert (data / "refs" / "hg" / "genome.fa").read_text() == ">c\nACGT\n"
    assert (data / "reads.fq").resolve() == (tmp_path / "reads.fq").resolve()
    env = results(done.extra, "nested/env.json")
    assert env["HELLO_MODE"] == "fast"
    assert env["HELLO_ON"] == "true"
    assert env["RUNHUB_RUN_ID"] == done.ref.id
    assert Path(env["RUNHUB_PIPELINE_DIR"]) == pipeline.resolve()


def test_capsule_layout_code_run_is_accepted(
    backend: LocalBackend, tmp_path: Path, wait_for: Waiter, make_pipeline: Maker
) -> None:
    capsule = make_pipeline(tmp_path / "capsule", name="code/run")
    done = wait_for(backend.launch(spec_for(capsule, parameters=["x"]), "k").ref)
    assert done.ok
    assert results(done.extra, "args.json") == ["x"]


def test_relative_pipeline_and_mount_paths_resolve_against_the_cwd(
    backend: LocalBackend,
    pipeline: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    wait_for: Waiter,
) -> None:
    (tmp_path / "in.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    spec = RunSpec.from_data({"pipeline": pipeline.name, "mounts": [{"source": "in.txt"}]})
    done = wait_for(backend.launch(spec, "k").ref)
    assert done.ok
    assert results(done.extra, "data.json") == ["in.txt"]


def test_same_key_returns_the_same_run(
    backend: LocalBackend, pipeline: Path, home: Path, wait_for: Waiter
) -> None:
    first = backend.launch(spec_for(pipeline), "same-key")
    again = backend.launch(spec_for(pipeline), "same-key")
    assert again.ref == first.ref
    assert len(list((home / "runs").iterdir())) == 1
    wait_for(first.ref)
    assert backend.launch(spec_for(pipeline), "same-key").ref == first.ref


def test_key_of_a_deleted_run_launches_afresh(
    backend: LocalBackend, pipeline: Path, wait_for: Waiter
) -> None:
    first = wait_for(backend.launch(spec_for(pipeline), "key").ref)
    shutil.rmtree(first.extra["run_dir"])
    again = backend.launch(spec_for(pipeline), "key")
    assert again.ref != first.ref
    assert wait_for(again.ref).ok


def test_relaunch_starts_a_run_whose_launcher_crashed_before_starting_it(
    backend: LocalBackend, pipeline: Path, home: Path, wait_for: Waiter
) -> None:
    # What a launcher leaves behind if it dies between claiming the key and spawning.
    run = backend._create(spec_for(pipeline), "crashy", None)
    assert rd.claim_key(home, "crashy", run.run_id) is None
    assert backend.status(RunRef("local", run.run_id)).state is RunState.QUEUED
    again = backend.launch(spec_for(pipeline), "crashy")
    assert again.ref.id == run.run_id
    assert wait_for(again.ref).ok


def test_cancelling_a_run_nobody_started_settles_it(
    backend: LocalBackend, pipeline: Path, home: Path
) -> None:
    run = backend._create(spec_for(pipeline), "orphan", None)
    assert rd.claim_key(home, "orphan", run.run_id) is None
    cancelled = backend.cancel(RunRef("local", run.run_id))
    assert cancelled.state is RunState.CANCELLED
    assert cancelled.message == "cancelled before it started"
    # A later launch with the key does not start it any more.
    assert backend.launch(spec_for(pipeline), "orphan").state is RunState.CANCELLED
    assert run.supervisor_pid() is None


def test_claiming_a_key_is_exclusive(home: Path) -> None:
    assert rd.claim_key(home, "k/with/slashes", "run-a") is None
    assert rd.claim_key(home, "k/with/slashes", "run-b") == "run-a"
    assert rd.claim_key(home, "other", "run-b") is None


def test_concurrent_launches_with_one_key_make_one_run(
    backend: LocalBackend, pipeline: Path, home: Path, wait_for: Waiter
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    spec = spec_for(pipeline)
    with ThreadPoolExecutor(max_workers=6) as pool:
        refs = set(pool.map(lambda _: backend.launch(spec, "shared").ref, range(12)))
    assert len(refs) == 1
    assert len(list((home / "runs").iterdir())) == 1  # the losers removed their directories
    assert wait_for(refs.pop()).ok


def test_run_survives_the_launching_process(
    backend: LocalBackend, pipeline: Path, home: Path, wait_for: Waiter
) -> None:
    code = (
        "import sys; from runhub.local.backend import LocalBackend, LocalSettings;"
        "from runhub.spec import RunSpec;"
        "b = LocalBackend(LocalSettings(home=sys.argv[1]));"
        "s = b.launch(RunSpec(pipeline=sys.argv[2], parameters={'sleep': 0.5}), 'k');"
        "print(s.ref)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(home), str(pipeline)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    ref = RunRef.parse(out.stdout.strip())
    assert backend.status(ref).state in (RunState.QUEUED, RunState.RUNNING)
    assert wait_for(ref).state is RunState.SUCCEEDED


def test_the_supervisor_is_not_a_child_of_the_launcher(
    backend: LocalBackend, pipeline: Path, wait_for: Waiter
) -> None:
    """A long-lived launching process must not collect zombies: the supervisor is
    handed to init at once, and the short-lived first process is reaped by the next
    call (or close)."""
    if not Path("/proc/self/stat").exists():
        pytest.skip("needs /proc to read parent pids")
    before = _children()
    ref = backend.launch(spec_for(pipeline, parameters={"sleep": 1}), "k").ref
    run = rd.RunDir(backend.home / "runs" / ref.id)
    assert _eventually(lambda: run.supervisor_pid() is not None)
    assert _parent(Path(f"/proc/{run.supervisor_pid()}")) != os.getpid()
    wait_for(ref)
    assert _children() - before == set()


def _parent(proc: Path) -> int:
    return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])


def _children() -> set[int]:
    """Our child processes, running or zombie."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if _parent(entry) == os.getpid():
                    found.add(int(entry.name))
    return found


def test_unknown_run_is_not_found_with_suggestions(backend: LocalBackend, pipeline: Path) -> None:
    ref = backend.launch(spec_for(pipeline), "k").ref
    typo = RunRef("local", ref.id[:-1] + ("0" if ref.id[-1] != "0" else "1"))
    with pytest.raises(NotFound) as err:
        backend.status(typo)
    assert str(ref) in err.value.candidates
    for bad in ("..", "a/b", ""):
        with pytest.raises(NotFound):
            backend.status(RunRef("local", bad))


def test_unknown_native_state_maps_to_unknown(backend: LocalBackend) -> None:
    assert backend.state_of("PAUSED-BY-A-FUTURE-VERSION") is RunState.UNKNOWN
    assert backend.state_of(None) is RunState.UNKNOWN
    assert backend.state_of("RUNNING") is RunState.RUNNING


def test_vanished_supervisor_means_failed(
    backend: LocalBackend, pipeline: Path, wait_for: Waiter
) -> None:
    ref = backend.launch(spec_for(pipeline), "k").ref
    wait_for(ref)
    run = rd.RunDir(backend.home / "runs" / ref.id)
    # Pretend the supervisor died mid-run: state RUNNING, pid of a finished process.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run.update_state(state=rd.RUNNING, ended=None, exit_code=None)
    run.pid_file.write_text(str(dead.pid))
    status = backend.status(ref)
    assert status.state is RunState.FAILED
    assert "supervisor" in (status.message or "")


def test_recycled_supervisor_pid_is_not_mistaken_for_the_supervisor(
    backend: LocalBackend, pipeline: Path, wait_for: Waiter
) -> None:
    if not Path("/proc/self/cmdline").exists():
        pytest.skip("needs /proc to tell processes apart")
    ref = backend.launch(spec_for(pipeline), "k").ref
    wait_for(ref)
    run = rd.RunDir(backend.home / "runs" / ref.id)
    run.update_state(state=rd.RUNNING, ended=None, exit_code=None)
    run.pid_file.write_text(str(os.getpid()))  # alive, but some other program
    assert backend.status(ref).state is RunState.FAILED


# -- cancel ------------------------------------------------------------------------------


def test_cancel_stops_the_run_and_reports_cancelled(
    backend: LocalBackend, pipeline: Path, wait_for: Waiter
) -> None:
    ref = backend.launch(spec_for(pipeline, parameters={"sleep": 60}), "k").ref
    _wait_running(backend, ref)
    child = rd.RunDir(backend.home / "runs" / ref.id).state()["pid"]
    cancelled = backend.cancel(ref)
    final = wait_for(ref) if not cancelled.is_terminal else cancelled
    assert final.state is RunState.CANCELLED
    assert final.ended is not None
    assert _eventually(lambda: pid_gone(child))
    # Cancelling a finished run changes nothing.
    assert backend.cancel(ref).state is RunState.CANCELLED


def test_cancel_right_after_launch(backend: LocalBackend, pipeline: Path, wait_for: Waiter) -> None:
    # The supervisor may not even have written its pid yet.
    ref = backend.launch(spec_for(pipeline, parameters={"sleep": 60}), "k").ref
    backend.cancel(ref)
    assert wait_for(ref).state is RunState.CANCELLED


def test_supervisor_that_cannot_start_fails_the_run(
    backend: LocalBackend, pipeline: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", "/bin/false")
    ref = backend.launch(spec_for(pipeline), "k").ref
    assert _eventually(lambda: backend.status(ref).is_terminal)
    status = backend.status(ref)
    assert status.state is RunState.FAILED
    assert status.message == "supervisor did not start: exit code 1"


def test_supervisor_that_never_reports_fails_the_run_after_a_while(
    backend: LocalBackend, pipeline: Path, home: Path
) -> None:
    # Another process claimed the start, then died before the supervisor ran.
    run = backend._create(spec_for(pipeline), "lost", None)
    log = run.logs / "supervisor.log"
    log.write_text("")
    assert backend.status(RunRef("local", run.run_id)).state is RunState.QUEUED
    os.utime(log, (time.time() - 3600, time.time() - 3600))
    status = backend.status(RunRef("local", run.run_id))
    assert status.state is RunState.FAILED
    assert "no supervisor after 30 s" in (status.message or "")


def test_cancel_escalates_to_sigkill_after_the_grace_period(
    home: Path, tmp_path: Path, wait_for: Waiter, make_pipeline: Maker
) -> None:
    stubborn = make_pipeline(
        tmp_path / "stubborn",
        """\
        #!/usr/bin/env python3
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open("ready", "w").close()
        time.sleep(60)
        """,
    )
    backend = LocalBackend(LocalSettings(home=home, cancel_grace=0.2))
    ref = backend.launch(spec_for(stubborn), "k").ref
    ready = Path(backend.status(ref).extra["run_dir"]) / "ready"
    assert _eventually(ready.exists)
    backend.cancel(ref)
    final = wait_for(ref)
    assert final.state is RunState.CANCELLED
    assert final.exit_code == 128 + signal.SIGKILL


def test_cancel_reaches_the_whole_process_group(
    backend: LocalBackend, tmp_path: Path, wait_for: Waiter, make_pipeline: Maker
) -> None:
    parent = make_pipeline(
        tmp_path / "forks",
        """\
        #!/bin/sh
        sleep 60 &
        echo $! > grandchild.pid
        wait
        """,
    )
    ref = backend.launch(spec_for(parent), "k").ref
    pid_file = Path(backend.status(ref).extra["run_dir"]) / "grandchild.pid"
    assert _eventually(lambda: pid_file.exists() and pid_file.read_text().strip() != "")
    backend.cancel(ref)
    assert wait_for(ref).state is RunState.CANCELLED
    assert _eventually(lambda: pid_gone(int(pid_file.read_text())))


def test_cancel_before_start_never_starts_the_run(tmp_path: Path, pipeline: Path) -> None:
    from runhub.local.supervise import _Supervisor

    run = rd.RunDir(tmp_path / "run")
    for sub in (run.path, run.logs, run.results):
        sub.mkdir()
    run.update_state(state=rd.QUEUED)
    run.cancel_file.touch()
    _Supervisor(run, 1.0).run({"argv": [str(pipeline / "run")]})
    assert run.state()["state"] == rd.CANCELLED
    assert not (run.results / "args.json").exists()


def test_status_shows_cancelling_while_a_cancel_is_pending(
    backend: LocalBackend, pipeline: Path, wait_for: Waiter
) -> None:
    ref = backend.launch(spec_for(pipeline, parameters={"sleep": 60}), "k").ref
    _wait_running(backend, ref)
    run = rd.RunDir(backend.home / "runs" / ref.id)
    run.cancel_file.touch()  # requested, but the supervisor has not been told yet
    status = backend.status(ref)
    assert status.state is RunState.CANCELLING
    assert status.native == "CANCELLING"
    pid = run.supervisor_pid()
    assert pid is not None
    os.kill(pid, signal.SIGTERM)
    assert wait_for(ref).state is RunState.CANCELLED


def _wait_running(backend: LocalBackend, ref: RunRef) -> None:
    assert _eventually(lambda: backend.status(ref).state is RunState.RUNNING)


def _eventually(check: Any, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return bool(check())


def pid_gone(pid: int) -> bool:
    """True if no process ``pid`` exists (or it is a zombie nobody reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
