"""The runs the benchmarks launch, for runhub and for the official SDKs alike.

ICA: DRAGEN germline on the emulator's seeded project, by pipeline code, storage
size name and data paths (runhub resolves them once per client). Code Ocean: the
seeded QC capsule with named parameters and one data asset. Every run differs in a
parameter, as a samplesheet's rows do.
"""

from __future__ import annotations

import os
from typing import Any

from runhub.plugins import Registry, registry
from runhub.spec import RunSpec

ICA_KEY = "bench-ica-api-key-0001"
PIPELINE_CODE = "dragen-germline-4-3-6"
REF_TAR = "/reference/hg38-alt_masked.cnv.graph.hla.rna-9-r3.0-1.tar"
QC_CAPSULE = "8d1e6c2a-4b7f-4e39-a0d2-5c3b9f17e6a4"
FASTQ_ASSET = "1d6a0f2e-7c3b-4a9d-8e51-2b4c6f8a0d13"
CO_TOKEN = "emulator-token"
#: The ICA emulator's seeded project (runhub_ica.emulator.seed.PROJECT_ID), written out
#: so that client processes do not import the emulator (and libica) to learn it.
ICA_PROJECT = "0d4f6a1e-6b1c-4a8e-9a51-2f3c5b7e8d90"


def spec_data(backend: str, i: int) -> dict[str, Any]:
    """Row ``i``'s run as RunSpec data."""
    if backend == "ica":
        return {
            "backend": "ica",
            "pipeline": PIPELINE_CODE,
            "name": f"bench sample {i}",
            "mounts": [
                {"source": "/fastqs/", "input": "fastqs"},
                {"source": REF_TAR, "input": "ref_tar"},
            ],
            "parameters": {"sample_ids": [f"S{i}"], "enable_cnv": True},
            "options": {"ica": {"storage": "Medium"}},
        }
    return {
        "backend": "codeocean",
        "pipeline": QC_CAPSULE,
        "mounts": [{"source": FASTQ_ASSET, "path": "fastqs"}],
        "parameters": {"NumFiles": i, "mode": "fast"},
    }


def specs(backend: str, n: int) -> list[RunSpec]:
    """``n`` distinct specs for ``backend``."""
    return [RunSpec.from_data(spec_data(backend, i)) for i in range(n)]


def settings(backend: str, url: str) -> dict[str, dict[str, Any]]:
    """Client settings pointing ``backend`` at an emulator."""
    if backend == "ica":
        return {"ica": {"server_url": url, "x_api_key": ICA_KEY, "project_id": ICA_PROJECT}}
    return {"codeocean": {"url": url, "api_token": CO_TOKEN}}


def environment(backend: str, url: str, home: str) -> dict[str, str]:
    """Environment for a ``runhub`` process talking to the emulator (own home/ledger)."""
    env = {**os.environ, "RUNHUB_HOME": home, "RUNHUB_CONFIG": f"{home}/none.toml"}
    if backend == "ica":
        env |= {
            "ICAV2_SERVER_URL": url,
            "ICAV2_X_API_KEY": ICA_KEY,
            "ICAV2_PROJECT_ID": ICA_PROJECT,
        }
    else:
        env |= {"CODEOCEAN_URL": url, "CODEOCEAN_API_TOKEN": CO_TOKEN}
    return env


def plugins() -> Registry:
    """The installed backends (as a user's client finds them)."""
    return registry()


# -- the official SDKs, used only here -------------------------------------------------


class IcaSdk:
    """libica 3.3 against the emulator, with the ids a user would have resolved once."""

    V4 = "application/vnd.illumina.v4+json"

    def __init__(self, url: str) -> None:
        import libica.openapi.v3 as v3
        from libica.openapi.v3.api.project_analysis_api import ProjectAnalysisApi
        from runhub_ica.emulator import seed
        from runhub_ica.emulator.world import data_id

        config = v3.Configuration(host=url + "/ica/rest", api_key={"ApiKeyAuth": ICA_KEY})
        self.client = v3.ApiClient(config)
        # libica's generated default Accept is v3, which the create endpoints refuse
        self.client.set_default_header("Accept", self.V4)
        self.analyses = ProjectAnalysisApi(self.client)
        self.project = seed.PROJECT_ID
        self.pipeline = next(p.id for p in seed.PIPELINES if p.code == PIPELINE_CODE)
        self.storage = seed.STORAGES["Medium"]
        self.fastqs = data_id("fol", seed.PROJECT_ID, "/fastqs/")
        self.ref = data_id("fil", seed.PROJECT_ID, REF_TAR)

    def launch(self, i: int) -> str:
        """Create row ``i``'s analysis; its id."""
        from libica.openapi.v3 import models as m

        body = m.CreateNextflowAnalysis(
            user_reference=f"bench sample {i}",
            pipeline_id=self.pipeline,
            analysis_storage_id=self.storage,
            analysis_input=m.NextflowAnalysisInput(
                inputs=[
                    m.AnalysisDataInput(parameter_code="fastqs", data_ids=[self.fastqs]),
                    m.AnalysisDataInput(parameter_code="ref_tar", data_ids=[self.ref]),
                ],
                parameters=[
                    m.AnalysisParameterInput(code="sample_ids", multi_value=[f"S{i}"]),
                    m.AnalysisParameterInput(code="enable_cnv", value="true"),
                ],
            ),
        )
        created = self.analyses.create_nextflow_analysis(
            self.project, body, idempotency_key=os.urandom(16).hex(), _content_type=self.V4
        )
        return str(created.id)

    def status(self, analysis_id: str) -> str:
        """One ``GET …/analyses/{id}``: the analysis's native status."""
        got = self.analyses.get_analysis(self.project, analysis_id)
        return str(got.status)

    def close(self) -> None:
        self.client.__exit__(None, None, None)


class CodeOceanSdk:
    """The official ``codeocean`` SDK (0.17) against the emulator."""

    def __init__(self, url: str) -> None:
        from codeocean import CodeOcean

        self.sdk = CodeOcean(domain=url, token=CO_TOKEN)

    def launch(self, i: int) -> str:
        """Run the capsule with row ``i``'s parameters; the computation id."""
        from codeocean.computation import DataAssetsRunParam, NamedRunParam, RunParams

        params = RunParams(
            capsule_id=QC_CAPSULE,
            data_assets=[DataAssetsRunParam(FASTQ_ASSET, "fastqs")],
            named_parameters=[NamedRunParam("NumFiles", str(i)), NamedRunParam("mode", "fast")],
        )
        return str(self.sdk.computations.run_capsule(params).id)

    def status(self, computation_id: str) -> str:
        """One ``GET computations/{id}``, as ``wait_until_completed`` polls: the state."""
        got = self.sdk.computations.get_computation(computation_id)
        return str(got.state.value)

    def close(self) -> None:
        self.sdk.session.close()


def sdk(backend: str, url: str) -> IcaSdk | CodeOceanSdk:
    """The official SDK for ``backend``."""
    return IcaSdk(url) if backend == "ica" else CodeOceanSdk(url)
