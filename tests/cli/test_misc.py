"""backends, --version, --help, and the small parsers the commands share."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import click
import pytest

import runhub
from runhub.cli.helpers import logs
from runhub.cli.helpers.params import DURATION
from runhub.cli.helpers.render import size, table
from runhub.cli.helpers.specs import parse_overrides
from runhub.config import load_profile
from runhub.errors import SpecError
from runhub.plugins import PluginFailure, Registry, registry


def test_version(cli: Any) -> None:
    for flag in ("--version", "-V"):
        result = cli(flag)
        assert result.code == 0
        assert result.out == f"runhub {runhub.__version__}\n"


def test_help_lists_every_command_and_the_exit_codes(cli: Any) -> None:
    result = cli("--help")
    assert result.code == 0
    for command in ("launch", "status", "wait", "cancel", "outputs", "backends"):
        assert f"  {command} " in result.out
    assert "124 wait timed out" in result.out


def test_backends_lists_local_with_its_distribution_and_capabilities(cli: Any) -> None:
    result = cli("backends")
    assert result.code == 0
    assert result.lines[0].split() == ["NAME", "FROM", "CAPABILITIES"]
    local = next(line for line in result.lines if line.startswith("local "))
    assert f"runhub {runhub.__version__}" in local
    assert "cancel" in local


def test_backends_as_json(cli: Any) -> None:
    data = cli("backends", "-o", "json").json()
    assert set(data) == {"backends", "failures"}
    local = next(b for b in data["backends"] if b["name"] == "local")
    assert local["plugin"] == "local"
    assert local["distribution"] == "runhub"
    assert local["capabilities"]["cancel"] is True
    assert local["capabilities"]["cancel_is_destructive"] is False


def test_backends_reports_plugins_that_failed_to_load(
    cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = Registry(
        dict(registry().backends),
        [PluginFailure("brokenplug", "ImportError: No module named 'nothere'")],
    )
    monkeypatch.setattr("runhub.plugins._cached", broken)
    result = cli("backends")
    assert result.code == 0
    assert "plugins that failed to load" in result.out
    assert "brokenplug  ImportError: No module named 'nothere'" in result.out
    assert any(line.startswith("local ") for line in result.lines)
    data = cli("backends", "-o", "json").json()
    assert data["failures"] == [
        {"plugin": "brokenplug", "error": "ImportError: No module named 'nothere'"}
    ]


@pytest.mark.parametrize(
    ("item", "value"),
    [
        ("x=8", 8),
        ("x=1.5", 1.5),
        ("x=true", True),
        ("x=[a, b]", ["a", "b"]),
        ("x=[1,2]", [1, 2]),
        ("x=hello world", "hello world"),
        ("x=", ""),
        ("x=null", None),
        ("x='8'", "8"),
        ("x=2024-01-02", "2024-01-02"),
        ("x=a=b", "a=b"),
    ],
)
def test_set_values_are_yaml(item: str, value: object) -> None:
    assert parse_overrides([item]) == {"x": value}


def test_name_is_taken_literally() -> None:
    assert parse_overrides(["name=1"], name="007") == {"name": "007"}
    assert not isinstance(parse_overrides(["x=2024-01-02"])["x"], datetime.date)


@pytest.mark.parametrize("item", ["x", "=1", " =1", "x=[a"])
def test_bad_set_items(item: str) -> None:
    with pytest.raises(SpecError):
        parse_overrides([item])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90.0), ("90s", 90.0), ("1.5m", 90.0), ("2h", 7200.0), ("1d", 86400.0)],
)
def test_durations(text: str, seconds: float) -> None:
    assert DURATION.convert(text, None, None) == seconds


@pytest.mark.parametrize("text", ["", "soon", "-5", "0", "5 minutes"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(click.BadParameter):
        DURATION.convert(text, None, None)


def test_tables_align_and_show_missing_values_as_dashes() -> None:
    assert table(("A", "LONGER"), [("xyz", None), ("q", "multi\nline")]).splitlines() == [
        "A    LONGER",
        "xyz  -",
        "q    multi line",
    ]


def test_sizes_for_humans() -> None:
    assert [size(v) for v in (None, 0, 1023, 1536, 5 * 1024**3)] == [
        None,
        "0 B",
        "1023 B",
        "1.5 KiB",
        "5.0 GiB",
    ]


@pytest.mark.parametrize(
    ("verbose", "env", "level"),
    [
        (0, "", logging.ERROR),
        (1, "", logging.INFO),
        (2, "", logging.DEBUG),
        (0, "debug", logging.DEBUG),
        (0, "INFO", logging.INFO),
        (1, "debug", logging.DEBUG),
        (2, "error", logging.DEBUG),
        (0, "nonsense", logging.ERROR),
    ],
)
def test_log_level(verbose: int, env: str, level: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNHUB_LOG", env)
    assert logs.level_for(verbose) == level


def test_running_the_cli_in_process_leaves_logging_as_it_was(cli: Any) -> None:
    logger = logging.getLogger("runhub")
    before = (logger.level, logger.propagate, list(logger.handlers))
    assert cli("-v", "backends").code == 0
    assert cli("status", "nocolon").code == 2
    assert (logger.level, logger.propagate, list(logger.handlers)) == before


def test_stamina_retry_records_are_shown_only_at_debug_level(cli: Any) -> None:
    stamina_log = logging.getLogger("stamina")

    def retrying(*args: str) -> str:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                "runhub.plugins.registry",
                lambda: stamina_log.warning("stamina.retry_scheduled") or registry(),
            )
            return cli(*args, "backends").err

    assert retrying() == ""
    assert retrying("-v") == ""
    assert "stamina: stamina.retry_scheduled" in retrying("-vv")


def test_config_path_and_init(cli: Any, tmp_path: Any) -> None:
    target = tmp_path / "config.toml"  # RUNHUB_CONFIG, set by the home fixture
    assert cli("config", "path").out == f"{target}\n"
    created = cli("config", "init")
    assert created.code == 0
    assert created.out == f"{target}\n"
    assert load_profile(None, target) == {"backend": "local"}
    assert cli("--profile", "default", "backends").code == 0
    cli("config", "init").fails(2, "already exists")
    assert "# runhub profiles" in target.read_text()
