"""The emulator's seeded world: one project, pipelines, storages, project data.

Ids are fixed so that examples and cassettes can name them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TENANT_ID = "6f0a4c1e-2b7d-4e8a-9c3f-1d5e7a9b0c21"
TENANT_NAME = "runhub-emulator"
OWNER_ID = "3c9e1f5a-7b2d-4a6c-8e0f-9d1b3a5c7e42"
REGION_ID = "a1b2c3d4-0000-4000-8000-00000000e001"

PROJECT_ID = "0d4f6a1e-6b1c-4a8e-9a51-2f3c5b7e8d90"
PROJECT_NAME = "runhub-demo"
OTHER_PROJECT_ID = "7e2d9c4b-1a3f-4b5e-8d6c-0f9a2b4c6d13"
OTHER_PROJECT_NAME = "shared-references"
#: Listed before the demo project: a name search for "runhub-demo" finds it too.
NEAR_PROJECT_ID = "2b8f0c6e-3d1a-4e7b-9f5c-8a0d2e4f6b35"
NEAR_PROJECT_NAME = "runhub-demo-archive"
#: Listed only with ``includeHiddenProjects=true``.
HIDDEN_PROJECT_ID = "9c1e3a5b-7d2f-4c8e-a0b6-4e8f0a2c6d57"
HIDDEN_PROJECT_NAME = "runhub-hidden"

#: (id, name, hidden), in listing order.
PROJECTS: tuple[tuple[str, str, bool], ...] = (
    (NEAR_PROJECT_ID, NEAR_PROJECT_NAME, False),
    (HIDDEN_PROJECT_ID, HIDDEN_PROJECT_NAME, True),
    ("4a6c8e0f-2b4d-4f6a-8c0e-1a3c5e7f9b24", "runhub-demo-2", False),
    (PROJECT_ID, PROJECT_NAME, False),
    (OTHER_PROJECT_ID, OTHER_PROJECT_NAME, False),
)

#: Size name -> storage id (the names wrapica knows; ICA resolves them by name).
STORAGES: dict[str, str] = {
    "Small": "5a1c2e3f-0001-4d6b-9a8c-7e0f1b2c3d01",
    "Medium": "5a1c2e3f-0002-4d6b-9a8c-7e0f1b2c3d02",
    "Large": "5a1c2e3f-0003-4d6b-9a8c-7e0f1b2c3d03",
    "XLarge": "5a1c2e3f-0004-4d6b-9a8c-7e0f1b2c3d04",
    "2XLarge": "5a1c2e3f-0005-4d6b-9a8c-7e0f1b2c3d05",
    "3XLarge": "5a1c2e3f-0006-4d6b-9a8c-7e0f1b2c3d06",
}

ACTIVATION_CODE_ID = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c65"

#: A parameter value that makes an analysis fail after IN_PROGRESS (scripted failure).
FAIL_VALUE = "emulator:fail"
#: A parameter value that keeps an analysis IN_PROGRESS for an emulated day.
SLOW_VALUE = "emulator:slow"


@dataclass(frozen=True)
class Pipeline:
    """A seeded pipeline and its data inputs (parameterCodes)."""

    id: str
    code: str
    language: str
    description: str
    storage: str
    inputs: tuple[tuple[str, bool, bool], ...]  # (code, required, multiValue)
    input_ids: tuple[str, ...] = field(default=())
    #: ``inputFormType``: XML pipelines take structured input, JSON ones ``inputFormValues``.
    form: str = "XML"
    #: JSON form only: the ids of its non-data fields.
    settings: tuple[str, ...] = ()


PIPELINES: tuple[Pipeline, ...] = (
    Pipeline(
        "c5e1a2b3-4d5e-4f6a-8b7c-9d0e1f2a3b01",
        "dragen-germline-4-3-6",
        "NEXTFLOW",
        "DRAGEN Germline: FASTQ to VCF (XML input form)",
        "Medium",
        (("fastqs", True, True), ("ref_tar", True, False)),
        ("0b1d2f3a-1111-4c5d-8e9f-000000000101", "0b1d2f3a-1111-4c5d-8e9f-000000000102"),
    ),
    Pipeline(
        "c5e1a2b3-4d5e-4f6a-8b7c-9d0e1f2a3b02",
        "fastqc-0-12",
        "NEXTFLOW",
        "FastQC on a folder of reads (one data input)",
        "Small",
        (("reads", True, True),),
        ("0b1d2f3a-1111-4c5d-8e9f-000000000201",),
    ),
    Pipeline(
        "c5e1a2b3-4d5e-4f6a-8b7c-9d0e1f2a3b03",
        "nf-core-rnaseq-3-14-0",
        "NEXTFLOW",
        "nf-core/rnaseq, launched with custom input (params file)",
        "Large",
        (("input", True, False),),
        ("0b1d2f3a-1111-4c5d-8e9f-000000000301",),
    ),
    Pipeline(
        "c5e1a2b3-4d5e-4f6a-8b7c-9d0e1f2a3b04",
        "bwa-mem-cwl-0-7-17",
        "CWL",
        "BWA-MEM alignment (CWL)",
        "Small",
        (("reads", True, True), ("reference", True, False)),
        ("0b1d2f3a-1111-4c5d-8e9f-000000000401", "0b1d2f3a-1111-4c5d-8e9f-000000000402"),
    ),
    Pipeline(
        "c5e1a2b3-4d5e-4f6a-8b7c-9d0e1f2a3b05",
        "dragen-somatic-json-4-3-6",
        "NEXTFLOW",
        "DRAGEN Somatic (JSON input form)",
        "Medium",
        (("tumor_fastqs", True, True), ("ref_tar", True, False)),
        ("0b1d2f3a-1111-4c5d-8e9f-000000000501", "0b1d2f3a-1111-4c5d-8e9f-000000000502"),
        form="JSON",
        settings=("sample_ids", "enable_cnv", "threads", "mode"),
    ),
    Pipeline(
        "c5e1a2b3-4d5e-4f6a-8b7c-9d0e1f2a3b06",
        "bwa-mem-cwl-json-0-7-17",
        "CWL",
        "BWA-MEM alignment (CWL, JSON input form)",
        "Small",
        (("reads", True, True), ("reference", True, False)),
        ("0b1d2f3a-1111-4c5d-8e9f-000000000601", "0b1d2f3a-1111-4c5d-8e9f-000000000602"),
        form="JSON",
        settings=("threads", "mode"),
    ),
)

#: (project, path, size): folders end with "/". Ids are derived from the path.
#: Every item is AVAILABLE unless :data:`STATUS` says otherwise.
DATA: tuple[tuple[str, str, int | None], ...] = (
    (PROJECT_ID, "/fastqs/", None),
    (PROJECT_ID, "/fastqs/SampleA_S1_L001_R1_001.fastq.gz", 1_843_200_113),
    (PROJECT_ID, "/fastqs/SampleA_S1_L001_R2_001.fastq.gz", 1_902_511_870),
    (PROJECT_ID, "/fastqs/SampleB_S2_L001_R1_001.fastq.gz", 1_705_322_004),
    (PROJECT_ID, "/fastqs/SampleB_S2_L001_R2_001.fastq.gz", 1_771_090_562),
    (PROJECT_ID, "/reference/", None),
    (PROJECT_ID, "/reference/hg38-alt_masked.cnv.graph.hla.rna-9-r3.0-1.tar", 9_212_001_280),
    (PROJECT_ID, "/reference/GRCh38.fa", 3_273_481_150),
    (PROJECT_ID, "/samplesheets/", None),
    (PROJECT_ID, "/samplesheets/rnaseq_samplesheet.csv", 412),
    (OTHER_PROJECT_ID, "/genomes/", None),
    (OTHER_PROJECT_ID, "/genomes/GRCh38/", None),
    (OTHER_PROJECT_ID, "/genomes/GRCh38/genome.fa", 3_273_481_150),
    (HIDDEN_PROJECT_ID, "/old/", None),
    (HIDDEN_PROJECT_ID, "/old/reads.fastq.gz", 1_000_000),
    # An upload that never finished, and archived data: neither can feed a run.
    (PROJECT_ID, "/fastqs/SampleC_S3_L001_R1_001.fastq.gz", 1_234_567),
    (PROJECT_ID, "/archive/", None),
    (PROJECT_ID, "/archive/run-2019.bam", 88_000_000_000),
    # Case variants (FULL_CASE_INSENSITIVE returns them all; only one matches exactly),
    # and a file and a folder of the same name.
    (PROJECT_ID, "/cases/", None),
    (PROJECT_ID, "/cases/SAMPLE.CSV", 10),
    (PROJECT_ID, "/cases/Sample.csv", 11),
    (PROJECT_ID, "/cases/sample.CSV", 12),
    (PROJECT_ID, "/cases/sample.csv", 13),
    (PROJECT_ID, "/cases/both", 14),
    (PROJECT_ID, "/cases/both/", None),
    (PROJECT_ID, "/cases/both/inner.txt", 15),
)

#: Data whose status is not AVAILABLE (``DataDetails.status``).
STATUS: dict[tuple[str, str], str] = {
    (PROJECT_ID, "/fastqs/SampleC_S3_L001_R1_001.fastq.gz"): "PARTIAL",
    (PROJECT_ID, "/archive/run-2019.bam"): "ARCHIVED",
}
