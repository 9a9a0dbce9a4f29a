"""Chain files checked before anything runs (library level)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runhub.aio import AsyncClient
from runhub.backend import Output
from runhub.chain import ChainError, prepare
from runhub.chain.data import matching


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chain.yaml"
    path.write_text(text)
    return path


def test_the_chain_id_follows_the_content_and_the_rows(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "run").write_text("#!/bin/sh\n")
    (tmp_path / "p" / "run").chmod(0o755)
    (tmp_path / "step.yaml").write_text("pipeline: p\nname: 'x-{s}'\n")
    chain = _write(tmp_path, "backend: local\nsteps:\n  a: {spec: step.yaml}\n")
    (tmp_path / "one.csv").write_text("s\nA\n")
    (tmp_path / "two.csv").write_text("s\nB\n")
    client = AsyncClient(ledger=False)
    first = prepare(client, chain, tmp_path / "one.csv")
    assert first.id == prepare(client, chain, tmp_path / "one.csv").id
    assert first.id != prepare(client, chain, tmp_path / "two.csv").id
    (tmp_path / "step.yaml").write_text("pipeline: p\nname: 'y-{s}'\n")  # a spec file's content
    assert first.id != prepare(client, chain, tmp_path / "one.csv").id
    assert prepare(client, chain, tmp_path / "one.csv", chain_id="mine").id == "mine"
    assert first.chains[0].steps["a"].spec.name == "x-A"


def test_ordered_parameters_cannot_take_a_fed_parameter(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "run").write_text("#!/bin/sh\n")
    (tmp_path / "p" / "run").chmod(0o755)
    chain = _write(
        tmp_path,
        "backend: local\nsteps:\n  a: {spec: {pipeline: p}}\n"
        "  b:\n    spec: {pipeline: p, parameters: ['1']}\n"
        "    inputs: [{from: {step: a, outputs: '*'}, parameter: x}]\n",
    )
    with pytest.raises(ChainError, match=r"steps\.b\.inputs\[0\]\.parameter: the spec's"):
        prepare(AsyncClient(ledger=False), chain)


def test_globs_match_names_or_whole_paths_files_or_folders() -> None:
    outs = [
        Output("run/results/a.bam"),
        Output("run/results/b.bam.bai"),
        Output("run/test.txt"),
        Output("run/results/", kind="folder"),
    ]
    assert [o.path for o in matching(outs, "*.bam")] == ["run/results/a.bam"]
    assert [o.path for o in matching(outs, "run/*.txt")] == ["run/test.txt"]
    assert [o.path for o in matching(outs, "results/")] == ["run/results/"]
    assert matching(outs, "*.vcf") == []


def test_the_poll_interval_comes_from_the_argument_the_environment_or_the_profile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from runhub.chain import POLL_INTERVAL, poll_interval
    from runhub.errors import ConfigError

    profile: dict[str, object] = {"chain": {"poll_interval": 12}}
    assert poll_interval(None, {}) == POLL_INTERVAL == 30.0
    assert poll_interval(None, profile) == 12.0
    monkeypatch.setenv("RUNHUB_CHAIN_POLL_INTERVAL", "4.5")
    assert poll_interval(None, profile) == 4.5
    assert poll_interval(0.5, profile) == 0.5
    monkeypatch.setenv("RUNHUB_CHAIN_POLL_INTERVAL", "soon")
    with pytest.raises(ConfigError, match="RUNHUB_CHAIN_POLL_INTERVAL"):
        poll_interval(None, profile)
