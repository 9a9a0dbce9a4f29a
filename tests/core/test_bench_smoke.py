"""Every benchmark script runs end to end with tiny sizes (bench/README.md has the
figures). Functional only: no timing is asserted, only what each script counts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"

pytest.importorskip("libica", reason="the benchmarks compare with libica (test extra)")
pytest.importorskip("codeocean", reason="the benchmarks compare with the codeocean SDK")


@pytest.fixture(autouse=True)
def _bench_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setenv("RUNHUB_BENCH_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("RUNHUB_CONFIG", str(tmp_path / "none.toml"))
    monkeypatch.setenv("RUNHUB_HOME", str(tmp_path / "home"))


def script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def written(tmp_path: Path, name: str) -> None:
    assert (tmp_path / "results" / f"{name}.json").is_file()


def test_launch(tmp_path: Path) -> None:
    got: dict[str, Any] = script("launch").main(
        ["--n", "4", "--latency", "0.005", "--concurrency", "2", "--sweep", "3"]
    )
    for backend in ("ica", "codeocean"):
        runhub, sdk = got[backend]["runhub launch_many"], got[backend]["official SDK loop"]
        assert runhub["runs"] == sdk["runs"] == 4
        assert sdk["requests"] == 4  # one create each
        # creates + lookups done once (+ on ICA one search for the batch's launch keys)
        assert 4 <= runhub["requests"] <= 4 + 4 + 1
        assert set(got[f"{backend}_sweep"]) == {2, 3}
    written(tmp_path, "launch")


def test_ratelimit(tmp_path: Path) -> None:
    # codeocean only: the ICA path is the same code, and test_launch drives ICA
    args = ["--n", "12", "--peer-n", "4", "--rate", "40", "--latency", "0", "--settle", "0.1"]
    got = script("ratelimit").main([*args, "--backends", "codeocean"])
    for result in got["codeocean"].values():
        assert result["failed"] == 0
        assert result["requests"] >= result["launched"] + result["limited"]
        assert 0 <= result["share_429"] <= 1
    assert got["codeocean"]["runhub launch_many"]["launched"] == 12
    written(tmp_path, "ratelimit")


def test_watch(tmp_path: Path) -> None:
    got = script("watch").main(["--n", "6", "--interval", "0.1", "--speed", "40"])
    for backend in ("ica", "codeocean"):
        runhub, sdk = got[backend]["runhub watch"], got[backend]["per-run polling (SDK)"]
        assert runhub["done"] == sdk["done"] == 6
        assert runhub["requests"] == runhub["cycles"]  # one search / listing per cycle
        assert sdk["requests"] >= 6
    written(tmp_path, "watch")


def test_translate(tmp_path: Path) -> None:
    got = script("translate").main(
        ["--specs", "20", "--runs", "6", "--speed", "40", "--backends", "ica"]
    )
    assert got["ica"]["done"] == 6
    assert got["ica"]["translations_per_s"] > 0
    assert got["ica"]["exchanges_per_s"] > 0
    assert got["ica"]["rss_peak_mb"] >= got["ica"]["rss_before_mb"] > 0
    written(tmp_path, "translate")


def test_startup(tmp_path: Path) -> None:
    medians = script("startup").main(["--repeat", "1"])
    assert set(medians) >= {"python -c pass", "runhub --version"}
    written(tmp_path, "startup")


def test_transfer(tmp_path: Path) -> None:
    pytest.importorskip("moto", reason="bench/transfer.py uploads to moto's S3 server")
    got: dict[str, Any] = script("transfer").main(
        [
            "--files", "2", "--file-mb", "0.2", "--big-mb", "12", "--rounds", "1",
            "--part-mb", "5", "--threshold-mb", "5", "--concurrency", "1", "--ca-mb", "0.1",
        ]
    )  # fmt: skip
    assert got["small"]["files"] == 2
    assert got["big"]["bytes"] == 12 << 20
    for tool in ("runhub", "TransferManager", "TM + ICA calls"):  # split at the S3 log
        assert len(got["big"]["phases"][tool]) == 1
        split = got["big"]["median_phases"][tool]
        assert all(seconds >= 0 for seconds in split.values())
        assert sum(split.values()) <= got["big"]["median_seconds"][tool] * 1.5
    assert got["resume"]["resent_held_bytes"] == 0
    assert got["content_addressing"]["second"]["bytes_sent"] == 0
    assert got["content_addressing"]["first"]["bytes_sent"] > 0
    written(tmp_path, "transfer")


def test_ledger(tmp_path: Path, postgres_server: Any) -> None:
    del postgres_server  # only for its skip (or, under CI, failure) without a server
    got = script("ledger").main(["--n", "20", "--rows", "8", "--processes", "2"])
    assert set(got["recording"]) == {"sqlite", "postgresql", "postgresql, synchronous_commit=off"}
    assert all(r["launches"] == 20 for r in got["recording"].values())
    for race in got["race"].values():
        assert race["runs_created"] == 8
        assert race["exit_codes"] == [0, 0]
        assert sum(race["launched_by_process"]) == 8
    written(tmp_path, "ledger")


def test_chain(tmp_path: Path) -> None:
    got = script("chain").main(["--trials", "2", "--poll-interval", "0.05", "--speed", "50"])
    assert got["polling"]["trials"] == 2
    assert all(latency >= 0 for latency in got["polling"]["latencies_s"])
    written(tmp_path, "chain")


def test_events(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("moto", reason="bench/events.py runs SQS on moto (test extra)")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "bench")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "bench")
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    got: dict[str, Any] = script("events").main(["--n", "20", "--poll", "0.5", "--repeat", "1"])
    assert set(got["latency"]) == {"events", "polling"}
    hour = got["hour"]
    events, polling = hour["events (safety-net polls only)"], hour["polling alone"]
    for result in (events, polling):
        assert result["runs"] == 20
        assert result["unfinished after the hour"] == 0
    assert events["notifications applied"] > 0
    assert 0 < events["status requests"] < polling["status requests"]
    written(tmp_path, "events")
