"""An emulated Code Ocean for tests, demos and benchmarks (see :mod:`.app`)."""

from __future__ import annotations

from runhub_codeocean.emulator.app import DEFAULT_TOKEN, CodeOceanEmulator
from runhub_codeocean.emulator.seed import (
    ANNOTATION_ASSET,
    ART_CAPSULE,
    FASTQ_ASSET,
    PIPELINE,
    QC_CAPSULE,
    REFERENCE_ASSET,
)
from runhub_codeocean.emulator.variance import VARIANCE

__all__ = [
    "ANNOTATION_ASSET",
    "ART_CAPSULE",
    "DEFAULT_TOKEN",
    "FASTQ_ASSET",
    "PIPELINE",
    "QC_CAPSULE",
    "REFERENCE_ASSET",
    "VARIANCE",
    "CodeOceanEmulator",
]
