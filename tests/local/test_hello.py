"""examples/hello end to end through the Client, checked against the FASTQ itself."""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from runhub.client import Client, PollSchedule
from runhub.spec import RunSpec

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "examples" / "hello"
FAST = PollSchedule(initial=0.01, cap=0.05)


def expected_summary(fastq: Path, min_quality: float) -> dict[str, str]:
    """The summary computed here, independently of the pipeline's code."""
    with gzip.open(fastq, "rt") as handle:
        lines = handle.read().splitlines()
    records = [lines[i : i + 4] for i in range(0, len(lines), 4)]
    sequences = [r[1] for r in records]
    qualities = [[ord(c) - 33 for c in r[3]] for r in records]
    bases = sum(len(s) for s in sequences)
    gc = sum(s.count("G") + s.count("C") for s in sequences)
    scores = [q for read in qualities for q in read]
    passing = sum(1 for read in qualities if sum(read) / len(read) >= min_quality)
    return {
        "file": fastq.name,
        "reads": str(len(records)),
        "bases": str(bases),
        "gc_fraction": f"{gc / bases:.4f}",
        "mean_quality": f"{sum(scores) / len(scores):.2f}",
        "min_quality": f"{min_quality:g}",
        "reads_mean_quality_ge_min": str(passing),
    }


def read_summary(client: Client, ref: str) -> list[dict[str, str]]:
    outputs = {o.path: o for o in client.outputs(ref)}
    assert set(outputs) == {"summary.tsv"}
    with open(str(outputs["summary.tsv"].id), newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def test_hello_runspec_from_the_repo_root(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    launched = client.launch("examples/hello/runspec.yaml")
    done = client.wait(launched.ref, timeout=60, poll=FAST)
    assert done.ok, done.message
    assert done.name == "hello-sample-A"
    fastq = HELLO / "inputs" / "sample.fastq.gz"
    assert read_summary(client, str(done.ref)) == [expected_summary(fastq, 20)]


def test_hello_threshold_and_several_files(
    client: Client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    fastq = HELLO / "inputs" / "sample.fastq.gz"
    half = tmp_path / "half.fq.gz"
    with gzip.open(fastq, "rt") as src, gzip.open(half, "wt") as dst:
        dst.write("".join(src.readlines()[:200]))  # the first 50 reads
    spec = RunSpec.from_file("examples/hello/runspec.yaml").with_overrides(
        {"parameters.min_quality": 30, "mounts": [{"source": str(fastq)}, {"source": str(half)}]}
    )
    done = client.wait(client.launch(spec).ref, timeout=60, poll=FAST)
    assert done.ok, done.message
    rows = read_summary(client, str(done.ref))
    assert rows == [expected_summary(half, 30), expected_summary(fastq, 30)]
    # The threshold matters: fewer reads pass at 30 than at 20 in this sample.
    assert int(rows[1]["reads_mean_quality_ge_min"]) < int(
        expected_summary(fastq, 20)["reads_mean_quality_ge_min"]
    )


def test_hello_without_fastq_fails_with_its_message(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    spec = RunSpec.from_file("examples/hello/runspec.yaml").with_overrides({"mounts": []})
    done = client.wait(client.launch(spec).ref, timeout=60, poll=FAST)
    assert not done.ok
    assert done.exit_code == 1
    assert "no *.fastq.gz" in (done.message or "")
