#!/usr/bin/env python3
"""Regenerate the extra hello inputs the samplesheet uses: examples/hello/inputs/
sample-B.fastq.gz and sample-C.fastq.gz, 50 reads each, deterministic (fixed seeds,
gzip mtime 0). Run from anywhere: ``python examples/samplesheets/make_inputs.py``.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

READS = 50
INPUTS = Path(__file__).resolve().parent.parent / "hello" / "inputs"
#: sample -> (seed, typical quality): C is a noticeably worse run than B.
SAMPLES = {"B": (2026112302, 36), "C": (2026112303, 26)}


def reads(seed: int, quality: int, sample: str) -> bytes:
    rng = random.Random(seed)
    lines = []
    for index in range(READS):
        length = rng.randint(50, 80)
        bases = "".join(rng.choice("ACGT") for _ in range(length))
        quals = [
            max(2, min(41, int(rng.gauss(quality - 6 * i / length, 4)))) for i in range(length)
        ]
        lines += [
            f"@hello:{index + 1} sample={sample}",
            bases,
            "+",
            "".join(chr(q + 33) for q in quals),
        ]
    return ("\n".join(lines) + "\n").encode("ascii")


def main() -> None:
    INPUTS.mkdir(parents=True, exist_ok=True)
    for sample, (seed, quality) in SAMPLES.items():
        out = INPUTS / f"sample-{sample}.fastq.gz"
        with out.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
            gz.write(reads(seed, quality, sample))
        print(f"wrote {out} ({READS} reads)")


if __name__ == "__main__":
    main()
