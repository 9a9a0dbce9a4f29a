"""The emulator's seeded world: capsules, a pipeline and data assets.

The ids are fixed so that ``examples/codeocean/*.yaml`` run against a fresh
emulator. Parameter values ``fail``, ``crash``, ``slow`` and ``nonzero`` script a
run's fate. Each capsule and pipeline has a data asset attached (reported in its
runs' ``data_assets`` in the variance mode), app-panel labels for its parameters,
and a release capsule holding its released versions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

#: Capsule taking three ordered parameters (read length, coverage, sequencer).
ART_CAPSULE = "3f2f5a8e-1c61-4f0b-9a55-6d1f2c7b9e01"
#: Capsule taking named parameters and two data assets.
QC_CAPSULE = "8d1e6c2a-4b7f-4e39-a0d2-5c3b9f17e6a4"
#: Pipeline with two processes (ordered and named parameters).
PIPELINE = "b7c0d9e4-2a6f-4c85-9e13-0f4a8d2c6b57"

REFERENCE_ASSET = "bf8cf993-a583-495c-bebd-2f38f81d1ea1"
FASTQ_ASSET = "1d6a0f2e-7c3b-4a9d-8e51-2b4c6f8a0d13"
ANNOTATION_ASSET = "c4e8a2f6-0b1d-4f3e-9a7c-5d2e8b6f1a90"


@dataclass
class Target:
    """A capsule or pipeline the emulator can run."""

    id: str
    name: str
    kind: str  # "capsule" | "pipeline"
    #: How many ordered parameters it takes (None: none declared).
    ordered: int = 0
    named: frozenset[str] = frozenset()
    versions: int = 1
    #: Pipelines: process name -> the capsule it runs.
    processes: dict[str, Target] = field(default_factory=dict)
    #: App-panel labels: of the ordered parameters, and by ``param_name``.
    ordered_labels: tuple[str, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    #: Data assets attached to the capsule itself: ``(id, mount)``.
    attached: tuple[tuple[str, str], ...] = ()

    @property
    def release(self) -> str:
        """The id of the release capsule its released versions run as."""
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"codeocean-emulator/release/{self.id}"))

    def label(self, param_name: str) -> str:
        """The app panel's label for ``param_name`` (the name itself if none)."""
        return self.labels.get(param_name, param_name)

    def ordered_label(self, index: int) -> str:
        """The label of ordered parameter ``index``."""
        labels = self.ordered_labels
        return labels[index] if index < len(labels) else f"arg{index + 1}"


@dataclass(frozen=True)
class DataAsset:
    """A data asset with its default mount."""

    id: str
    name: str
    mount: str


def seed_targets() -> dict[str, Target]:
    """Fresh capsules and pipelines, by id."""
    art = Target(
        ART_CAPSULE,
        "ART Illumina read simulator",
        "capsule",
        ordered=3,
        versions=3,
        ordered_labels=("Read length", "Fold coverage", "Sequencing system"),
        attached=((ANNOTATION_ASSET, "annotations"),),
    )
    qc = Target(
        QC_CAPSULE,
        "FASTQ quality control",
        "capsule",
        named=frozenset({"NumFiles", "mode", "threads", "adapter_trimming"}),
        versions=2,
        # Labels equal to the name for some (the docs call ``name`` the parameter
        # name), display labels for others (the SDK calls it the label).
        labels={"NumFiles": "Number of files", "threads": "Threads", "adapter_trimming": "Trim"},
        attached=((REFERENCE_ASSET, "Reference"),),
    )
    pipeline = Target(
        PIPELINE,
        "Simulate and QC",
        "pipeline",
        named=frozenset({"outdir"}),
        versions=2,
        processes={"capsule_art_simulation_illumina_1": art, "capsule_fastq_qc_2": qc},
        labels={"outdir": "Output folder"},
        attached=((REFERENCE_ASSET, "Reference"),),
    )
    return {t.id: t for t in (art, qc, pipeline)}


def seed_assets() -> dict[str, DataAsset]:
    """Fresh data assets, by id."""
    assets = (
        DataAsset(REFERENCE_ASSET, "GRCh38 reference", "Reference"),
        DataAsset(FASTQ_ASSET, "Sample A FASTQs", "fastqs"),
        DataAsset(ANNOTATION_ASSET, "GENCODE annotations", "annotations"),
    )
    return {a.id: a for a in assets}


#: The result tree every finished run gets: path -> size in bytes.
RESULT_FILES: dict[str, int] = {
    "output.txt": 42,
    "summary.json": 128,
    "logs/run.log": 2048,
    "logs/nextflow/trace.tsv": 512,
}
