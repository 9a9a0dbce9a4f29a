"""Issue 12 end to end: the CLI against the Code Ocean emulator served over HTTP on
127.0.0.1 in its documented-variance mode (every reading on), counted on the
emulator. The backend-level proofs are in tests/codeocean/test_fidelity.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import runhub_codeocean
import runhub_ica
from runhub_codeocean.backend import CodeOceanBackend
from runhub_codeocean.emulator import ART_CAPSULE, DEFAULT_TOKEN, QC_CAPSULE, CodeOceanEmulator
from runhub_ica.emulator import IcaEmulator, seed

import runhub
from runhub.testing.emulator import Clock, EmulatorServer, FaultPlan

AGENT = f"runhub/{runhub.__version__} codeocean/{runhub_codeocean.__version__}"
POSTS = ("POST", "computations")
#: Ordered parameters, a version pin (listed under the release capsule), an asset
#: beside the capsule's own attached one; rows differ in the coverage value.
ART_TEMPLATE = f"""\
backend: codeocean
pipeline: {ART_CAPSULE}
version: 2
name: "art-{{sample}}"
mounts:
  - {{source: bf8cf993-a583-495c-bebd-2f38f81d1ea1, path: Reference}}
parameters: ["75", "{{coverage}}", HS25]
"""
#: Named parameters, reported back as app-panel labels in the panel's order.
QC_TEMPLATE = f"""\
backend: codeocean
pipeline: {QC_CAPSULE}
name: "qc-{{sample}}"
parameters: {{threads: "{{coverage}}", mode: fast, NumFiles: 10}}
"""


class Switchable:
    """The emulator, with GETs (all, or only listings of computations) answering
    ``fail`` while it is set."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.fail: httpx.Response | None = None
        self.listings_only = True

    def handle(self, request: httpx.Request) -> httpx.Response:
        listing = request.url.path.endswith("/computations") or not self.listings_only
        if request.method == "GET" and listing and self.fail is not None:
            return self.fail
        return self.app.handle(request)


@dataclass
class Served:
    app: CodeOceanEmulator
    front: Switchable
    faults: FaultPlan
    tmp: Path

    def spec(self, text: str, name: str = "co.yaml") -> str:
        path = self.tmp / name
        path.write_text(text)
        return str(path)

    def sheet(self, rows: int) -> str:
        path = self.tmp / "samples.csv"
        path.write_text("sample,coverage\n" + "".join(f"S{i},{i + 1}\n" for i in range(rows)))
        return str(path)


@pytest.fixture
def co(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    app = CodeOceanEmulator(clock=Clock(speed=5000), variance=True)
    front = Switchable(app)
    faults = FaultPlan(only=["POST /api/v1/computations"])
    with EmulatorServer(front, faults=faults) as server:
        monkeypatch.setenv("CODEOCEAN_URL", server.url)
        monkeypatch.setenv("CODEOCEAN_API_TOKEN", DEFAULT_TOKEN)
        yield Served(app, front, faults, tmp_path)
    assert set(app.user_agents) <= {AGENT}  # item 14, on every request of every test


def test_unknown_end_status_fails_and_cancel_keeps_the_run(cli: Any, co: Served) -> None:
    spec = co.spec(ART_TEMPLATE.replace("{coverage}", "fail").replace("{sample}", "x"))
    done = cli("launch", spec, "--wait", "--poll", "0.05")
    assert done.code == 1, done.err
    assert "completed/timed_out" in done.out
    assert "unknown to runhub" in done.out
    ref = done.lines[0]
    cancelled = cli("cancel", "--yes", ref, "-o", "json")
    assert cancelled.code == 0, cancelled.err
    assert cancelled.json()["state"] == "FAILED"
    assert ("DELETE", f"computations/{ref.split(':')[1]}") not in co.app.requests
    assert len(co.app.runs) == 1


def test_a_nonzero_exit_code_fails_the_run(cli: Any, co: Served) -> None:
    spec = co.spec(ART_TEMPLATE.replace("{coverage}", "nonzero").replace("{sample}", "x"))
    done = cli("launch", spec, "--wait", "--poll", "0.05")
    assert done.code == 1, done.err
    assert "exited with code 3" in done.out


@pytest.mark.parametrize("template", [ART_TEMPLATE, QC_TEMPLATE], ids=["ordered", "named"])
def test_batch_with_drops_and_server_errors_makes_exactly_one_run_per_row(
    cli: Any, co: Served, template: str
) -> None:
    rows = 8
    co.faults.push("drop-after", "drop-before", "drop-after")
    co.app.after_create.extend([500, 503])  # after the faults: the run exists each time
    done = cli(
        "batch",
        co.spec(template),
        co.sheet(rows),
        "-j",
        "4",
        "--wait",
        "--poll",
        "0.05",
        "-o",
        "json",
    )
    assert done.code == 0, done.err
    assert done.json()["summary"] == {"SUCCEEDED": rows}
    assert len(co.app.created) == rows  # counted on the platform
    assert len(co.app.runs) == rows
    assert co.faults.counts == {"drop-after": 2, "drop-before": 1}
    assert co.app.after_create == []
    refs = {r["ref"] for r in done.json()["runs"]}
    assert refs == {f"codeocean:{i}" for i in co.app.created}


def test_a_row_that_needs_a_look_is_reported_and_settled_by_running_again(
    cli: Any, co: Served
) -> None:
    spec, sheet = co.spec(ART_TEMPLATE), co.sheet(4)
    co.faults.push("drop-after")
    co.front.fail = httpx.Response(500, json={"message": "listing is down"})
    first = cli("batch", spec, sheet, "-j", "1", "-o", "json")
    assert first.code == 4
    assert first.json()["summary"] == {"NEEDS A LOOK": 1, "INITIALIZING": 3}
    assert "runhub: row 2: launch of capsule" in first.err
    assert "needs a look" in first.err
    assert "did not send it again" in first.err
    assert co.app.requests.count(POSTS) == 4  # one per row: the unsure one not again
    co.front.fail = None
    again = cli("batch", spec, sheet, "--wait", "--poll", "0.05", "-o", "json")
    assert again.code == 0, again.err
    assert again.json()["summary"] == {"SUCCEEDED": 4}
    assert len(co.app.created) == 4


def test_a_run_deleted_elsewhere_ends_the_wait_and_the_others_are_real(
    cli: Any, co: Served
) -> None:
    launched = cli("batch", co.spec(ART_TEMPLATE), co.sheet(3), "-o", "json")
    assert launched.code == 0, launched.err
    refs = [r["ref"] for r in launched.json()["runs"]]
    del co.app.runs[refs[1].split(":")[1]]  # deleted in the Code Ocean UI
    waited = cli("wait", "--batch", launched.json()["batch"], "--poll", "0.05", "-o", "json")
    assert waited.code == 1, waited.err  # one run CANCELLED
    states = {s["ref"]: (s["state"], s["native"]) for s in waited.json()}
    assert states == {
        refs[0]: ("SUCCEEDED", "completed/succeeded"),
        refs[1]: ("CANCELLED", "deleted"),
        refs[2]: ("SUCCEEDED", "completed/succeeded"),
    }
    shown = cli("status", *refs, "-o", "json")
    assert shown.code == 0, shown.err
    assert "no longer exists" in shown.json()[1]["message"]


@pytest.mark.parametrize("ref", ["codeocean:.", "codeocean:.."])
def test_dot_refs_are_refused(cli: Any, co: Served, ref: str) -> None:
    cli("status", ref).fails(2, "not a Code Ocean run reference")
    assert co.app.requests == []


def test_odd_result_names_download_and_the_walk_warns_at_its_limit(
    cli: Any, co: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    odd = "odd/sample #1?.txt"
    co.app.result_files[odd] = 7
    ref = cli("launch", co.spec(ART_TEMPLATE.replace("{sample}", "a")), "--wait", "--poll", "0.05")
    assert ref.code == 0, ref.err
    run = ref.lines[0]
    got = cli("outputs", run, "--download", str(co.tmp / "out"), "-o", "json")
    assert got.code == 0, got.err
    assert (co.tmp / "out" / odd).read_bytes() == b"x" * 7
    monkeypatch.setattr(CodeOceanBackend, "max_folders", 1)
    listed = cli("-v", "outputs", run, "-o", "json")
    assert listed.code == 0, listed.err
    assert {"path": "logs", "size": None, "kind": "folder", "id": None} in listed.json()
    assert "stopped listing results after 1 folders" in listed.err


def test_rate_limited_keeps_the_platform_message(
    cli: Any, co: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    ref = cli("launch", co.spec(ART_TEMPLATE.replace("{sample}", "a")))
    assert ref.code == 0, ref.err
    monkeypatch.setenv("RUNHUB_RETRY_ATTEMPTS", "3")  # the CLI's budget, short (Retry-After: 0)
    co.front.listings_only = False
    co.front.fail = httpx.Response(
        429, headers={"Retry-After": "0"}, json={"message": "The Computation API is overloaded"}
    )
    cli("status", ref.lines[0]).fails(4, "429", "The Computation API is overloaded")


def test_booleans_and_quoted_strings_as_sent(cli: Any, co: Served) -> None:
    spec = co.spec(
        f"backend: codeocean\npipeline: {QC_CAPSULE}\n"
        'parameters: {adapter_trimming: true, mode: "True", threads: "007"}\n'
    )
    shown = cli("launch", spec, "--dry-run")
    assert shown.code == 0, shown.err
    body = json.loads(shown.out[shown.out.index("{") :])
    assert [p["value"] for p in body["named_parameters"]] == ["true", "True", "007"]


def test_ica_requests_carry_the_user_agent_too(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    agents: list[str | None] = []
    ica = IcaEmulator(Clock(speed=5000))

    class Recording:
        def handle(self, request: httpx.Request) -> httpx.Response:
            agents.append(request.headers.get("user-agent"))
            return ica.handle(request)

    spec = Path("ica.yaml")
    spec.write_text(
        "backend: ica\npipeline: dragen-germline-4-3-6\n"
        "mounts:\n  - {source: /fastqs/, input: fastqs}\n"
        "  - {source: /reference/hg38-alt_masked.cnv.graph.hla.rna-9-r3.0-1.tar, input: ref_tar}\n"
        'parameters: {sample_ids: ["S1"]}\n'
    )
    with EmulatorServer(Recording()) as server:
        monkeypatch.setenv("ICAV2_SERVER_URL", server.url)
        monkeypatch.setenv("ICAV2_X_API_KEY", "cli-test-key-31f5")
        monkeypatch.setenv("ICAV2_PROJECT_ID", seed.PROJECT_ID)
        done = cli("launch", str(spec))
    assert done.code == 0, done.err
    assert agents
    expected = f"runhub/{runhub.__version__} ica/{runhub_ica.__version__}"
    assert set(agents) == {expected}
