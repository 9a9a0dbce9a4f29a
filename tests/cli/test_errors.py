"""Expected failures: one line on stderr, the documented exit code, no traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runhub.cli import cancel as cancel_command
from runhub.local.backend import LocalBackend
from runhub.plugins import BackendInfo, Registry, registry


def test_missing_spec_file(cli: Any) -> None:
    cli("launch", "nope.yaml").fails(2, "nope.yaml: no such file")


def test_unknown_field_in_the_spec_file(cli: Any, tmp_path: Path, ok_spec: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline: greet\nparamters: [x]\n")
    cli("launch", str(bad)).fails(2, "bad.yaml: paramters: unknown field", "parameters")


def test_invalid_yaml(cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline: [greet\n")
    cli("launch", str(bad)).fails(2, "bad.yaml: not valid YAML")


@pytest.mark.parametrize(
    ("option", "phrases"),
    [
        ("parameters", ("expected KEY=VALUE",)),
        ("=8", ("expected KEY=VALUE",)),
        ("paramters.x=8", ("--set: paramters: unknown field",)),
        ("parameters=[a", ("--set parameters: value '[a' is not valid YAML",)),
        ("parameters={x: {y: 1}}", ("--set: parameters.x: expected a scalar or a list",)),
        ("parameters.0.x=1", ("parameters.0 is a string",)),
    ],
)
def test_bad_set(cli: Any, ok_spec: Path, option: str, phrases: tuple[str, ...]) -> None:
    cli("launch", str(ok_spec), "--set", option).fails(2, *phrases)


def test_unknown_backend_from_the_flag_and_from_the_profile(
    cli: Any, ok_spec: Path, tmp_path: Path
) -> None:
    cli("launch", str(ok_spec), "--backend", "nope").fails(2, "unknown backend 'nope'", "local")
    (tmp_path / "config.toml").write_text('[default]\nbackend = "elsewhere"\n')
    cli("launch", str(ok_spec)).fails(2, "unknown backend 'elsewhere'")


def test_a_backend_that_cannot_run_the_spec(cli: Any, ok_spec: Path) -> None:
    cli("launch", str(ok_spec), "--set", "version=3").fails(2, "version:", "no versions")


def test_unknown_profile(cli: Any, ok_spec: Path) -> None:
    cli("--profile", "lab", "launch", str(ok_spec)).fails(2, "profile 'lab' not found")


@pytest.mark.parametrize("command", ["status", "wait", "cancel", "outputs"])
def test_bad_run_reference(cli: Any, command: str) -> None:
    cli(command, "no-colon-here").fails(2, "'no-colon-here' is not a run reference", "BACKEND:ID")


def test_a_run_that_does_not_exist_is_not_found(cli: Any) -> None:
    cli("status", "local:20990101T000000-00000000").fails(4, "no local run")


def test_timeout_needs_wait_and_must_be_a_duration(cli: Any, ok_spec: Path) -> None:
    cli("launch", str(ok_spec), "--timeout", "5").fails(2, "--timeout only applies with --wait")
    cli("wait", "local:x", "--timeout", "soon").fails(2, "'soon' is not a duration")
    cli("wait", "local:x", "--timeout", "0").fails(2, "more than zero")


def test_click_usage_errors_are_one_line_with_exit_2(cli: Any) -> None:
    cli("launch").fails(2, "Missing argument 'SPEC'", "runhub launch --help")
    cli("status", "--bogus").fails(2, "No such option", "--bogus")
    cli("frobnicate").fails(2, "No such command 'frobnicate'")


class DestructiveLocal(LocalBackend):
    """The local backend, but cancelling also deletes (as on Code Ocean)."""

    name = "wipe"
    capabilities = LocalBackend.capabilities.model_copy(update={"cancel_is_destructive": True})


@pytest.fixture
def wipe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Adds the ``wipe`` backend to the plugin registry for one test."""
    current = registry()
    backends = dict(current.backends, wipe=BackendInfo(DestructiveLocal, "tests", None, None))
    monkeypatch.setattr("runhub.plugins._cached", Registry(backends, list(current.failures)))


def test_destructive_cancel_without_yes_and_without_a_terminal_is_refused(
    cli: Any, wipe: None, slow_spec: Path
) -> None:
    ref = cli("launch", str(slow_spec), "--backend", "wipe").lines[0]
    assert ref.startswith("wipe:")
    cli("cancel", ref).fails(2, "also deletes it", "pass --yes")
    assert cli("status", ref, "-o", "json").json()[0]["state"] in ("QUEUED", "RUNNING")
    assert cli("cancel", ref, "--yes").code == 0
    assert cli("wait", ref, "-o", "json").json()["state"] == "CANCELLED"


def test_destructive_cancel_asks_on_a_terminal(
    cli: Any, wipe: None, slow_spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cancel_command, "_can_prompt", lambda: True)
    ref = cli("launch", str(slow_spec), "--backend", "wipe").lines[0]
    declined = cli("cancel", ref, stdin="n\n")
    assert declined.code == 1
    assert "not cancelled" in declined.err
    assert cli("status", ref, "-o", "json").json()[0]["state"] in ("QUEUED", "RUNNING")
    accepted = cli("cancel", ref, stdin="y\n")
    assert accepted.code == 0, accepted.err
    assert "also deletes it" in accepted.err
