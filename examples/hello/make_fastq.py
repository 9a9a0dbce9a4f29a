#!/usr/bin/env python3
"""Regenerate inputs/sample.fastq.gz: 200 reads, deterministic (fixed seed, gzip mtime 0).

Run from anywhere: ``python examples/hello/make_fastq.py``. The reads are random but
reproducible; qualities drift down along each read, as on a real sequencer, and a
quarter of the reads are noticeably worse so the quality threshold matters.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

READS = 200
OUT = Path(__file__).resolve().parent / "inputs" / "sample.fastq.gz"


def main() -> None:
    rng = random.Random(20261123)
    lines = []
    for index in range(READS):
        length = rng.randint(60, 100)
        gc = rng.uniform(0.35, 0.6)
        bases = "".join(
            rng.choice("GC") if rng.random() < gc else rng.choice("AT") for _ in range(length)
        )
        top = 38 if index % 4 else 24  # every fourth read is a poor one
        quals = [max(2, min(41, int(rng.gauss(top - 8 * i / length, 4)))) for i in range(length)]
        lines += [
            f"@hello:{index + 1} sample=A",
            bases,
            "+",
            "".join(chr(q + 33) for q in quals),
        ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode("ascii")
    with OUT.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(data)
    print(f"wrote {OUT} ({READS} reads)")


if __name__ == "__main__":
    main()
