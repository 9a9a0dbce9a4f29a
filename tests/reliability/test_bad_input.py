"""Bad input, table-driven, through the CLI: each case gives one clear line naming
what is wrong (and how to fix it), the documented exit code, no traceback, and
launches nothing. docs/errors.md lists the cases ("Bad input, case by case").

Specs, settings and samplesheets run with both emulators configured in the environment, and
the test checks afterwards that neither created a run. Platform answers come
from a server that gives one canned answer to every request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from invoke import cli_run
from platforms import Platform, serve

from runhub.testing.emulator import EmulatorServer

ICA_PROJECT = "0d4f6a1e-6b1c-4a8e-9a51-2f3c5b7e8d90"
CO_RUN = "7f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"
ICA_RUN = f"ica:{ICA_PROJECT}/{CO_RUN}"
CAPSULE = "8d1e6c2a-4b7f-4e39-a0d2-5c3b9f17e6a4"
ICA_OK = "backend: ica\npipeline: fastqc-0-12\nmounts: [{source: /fastqs/, input: reads}]\n"
CO_OK = f"backend: codeocean\npipeline: {CAPSULE}\n"
HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello"


@dataclass
class Case:
    """One bad input: files to write, the command, and what must come back."""

    id: str
    argv: list[str]
    code: int
    phrases: tuple[str, ...]
    files: dict[str, str | bytes] = field(default_factory=dict)
    env: dict[str, str | None] = field(default_factory=dict)


def spec(id: str, text: str | bytes, *phrases: str, name: str = "run.yaml", code: int = 2) -> Case:
    return Case(id, ["launch", name], code, phrases, files={name: text})


SPECS = [
    spec("yaml-malformed", "pipeline: [a, b\n", "run.yaml", "not valid YAML"),
    spec("json-malformed", '{"pipeline": ', "run.json", "not valid JSON", name="run.json"),
    spec(
        "yaml-python-object",
        "pipeline: !!python/object/apply:os.system ['touch pwned']\n",
        "run.yaml",
    ),
    spec("not-a-mapping", "- pipeline: x\n", "run.yaml", "mapping"),
    spec("empty-file", "", "run.yaml"),
    spec("not-utf8", b"pipeline: caf\xe9\n", "run.yaml", "UTF-8"),
    spec("unknown-field", "pipeline: x\nparamters: {a: 1}\n", "paramters", "parameters"),
    spec("missing-pipeline", "name: x\n", "pipeline"),
    spec("parameters-wrong-type", "pipeline: x\nparameters: 5\n", "parameters"),
    spec("parameter-value-mapping", "pipeline: x\nparameters: {a: {b: 1}}\n", "parameters.a"),
    spec("mounts-not-list", "pipeline: x\nmounts: {source: a}\n", "mounts"),
    spec("mount-missing-source", "pipeline: x\nmounts: [{path: a}]\n", "mounts.0", "source"),
    spec("tags-wrong-type", "pipeline: x\ntags: [a, b]\n", "tags"),
    spec("on-exist-invalid", "pipeline: x\noutputs: {path: /o/, on_exist: explode}\n", "on_exist"),
    spec("unknown-backend-in-spec", "backend: nope\npipeline: x\n", "nope", "installed"),
    spec("ica-ordered-parameters", ICA_OK + "parameters: [a, b]\n", "parameters", "named"),
    spec("ica-processes", ICA_OK + "processes: {step: {a: 1}}\n", "processes"),
    spec("ica-invalid-user-reference", ICA_OK + "name: 'bad/name*'\n", "name"),
    spec("ica-unknown-option", ICA_OK + "options: {ica: {colour: red}}\n", "options.ica.colour"),
    spec(
        "ica-unknown-kind",
        ICA_OK + "options: {ica: {kind: snakemake}}\n",
        "options.ica.kind",
        "snakemake",
        "nextflow",
    ),
    spec("ica-version-number", ICA_OK + "version: 2\n", "version", "pipeline"),
    spec("co-processes-on-capsule", CO_OK + "processes: {step1: [a]}\n", "processes"),
    spec("co-pipeline-not-an-id", "backend: codeocean\npipeline: 'my capsule'\n", "pipeline"),
    spec("co-unknown-option", CO_OK + "options: {codeocean: {colour: red}}\n", "colour"),
    spec(
        "local-missing-mount-source",
        f"backend: local\npipeline: {HELLO}\nmounts: [{{source: nowhere.fq}}]\n",
        "nowhere.fq",
    ),
    spec("local-missing-pipeline-dir", "backend: local\npipeline: no/such/dir\n", "no/such/dir"),
    Case("spec-file-missing", ["launch", "absent.yaml"], 2, ("absent.yaml", "no such file")),
    Case(
        "set-malformed",
        ["launch", "run.yaml", "--set", "threads"],
        2,
        ("--set", "KEY=VALUE"),
        files={"run.yaml": CO_OK},
    ),
    Case("ref-malformed", ["status", "abc"], 2, ("abc", "BACKEND:ID")),
    Case("ref-unknown-backend", ["status", "nope:123"], 2, ("nope",)),
]

NO_ICA = {"ICAV2_X_API_KEY": None, "ICAV2_ACCESS_TOKEN": None}
SETTINGS = [
    Case(
        "ica-no-credentials",
        ["launch", "run.yaml"],
        2,
        ("ICAV2_X_API_KEY", "ICAV2_ACCESS_TOKEN"),
        files={"run.yaml": ICA_OK},
        env=NO_ICA,
    ),
    Case(
        "ica-no-project",
        ["launch", "run.yaml"],
        2,
        ("ICAV2_PROJECT_ID",),
        files={"run.yaml": ICA_OK},
        env={"ICAV2_PROJECT_ID": None},
    ),
    Case(
        "ica-url-not-http",
        ["status", ICA_RUN],
        2,
        ("ICAV2_SERVER_URL",),
        env={"ICAV2_SERVER_URL": "ftp://ica.example.com"},
    ),
    Case(
        "ica-url-plain-http-remote",
        ["status", ICA_RUN],
        2,
        ("ICAV2_SERVER_URL: plain http is allowed only for", "https"),
        env={"ICAV2_SERVER_URL": "http://ica.example.com"},
    ),
    Case(
        "co-no-credentials",
        ["launch", "run.yaml"],
        2,
        ("CODEOCEAN_API_TOKEN",),
        files={"run.yaml": CO_OK},
        env={"CODEOCEAN_API_TOKEN": None},
    ),
    Case(
        "co-no-url",
        ["status", f"codeocean:{CO_RUN}"],
        2,
        ("CODEOCEAN_URL",),
        env={"CODEOCEAN_URL": None},
    ),
    Case(
        "co-url-malformed",
        ["status", f"codeocean:{CO_RUN}"],
        2,
        ("CODEOCEAN_URL",),
        env={"CODEOCEAN_URL": "https://"},
    ),
    Case(
        "co-url-plain-http-remote",
        ["status", f"codeocean:{CO_RUN}"],
        2,
        ("CODEOCEAN_URL", "https"),
        env={"CODEOCEAN_URL": "http://co.example.com"},
    ),
    Case(
        "unknown-backend-flag",
        ["launch", "run.yaml", "--backend", "nope"],
        2,
        ("nope", "installed"),
        files={"run.yaml": CO_OK},
    ),
    Case(
        "unknown-profile",
        ["--profile", "lab", "status", f"codeocean:{CO_RUN}"],
        2,
        ("lab",),
        files={"config.toml": "[default.codeocean]\nurl = 'https://x'\n"},
        env={"RUNHUB_CONFIG": "config.toml"},
    ),
    Case(
        "profile-malformed-toml",
        ["status", f"codeocean:{CO_RUN}"],
        2,
        ("config.toml",),
        files={"config.toml": "[default\n"},
        env={"RUNHUB_CONFIG": "config.toml"},
    ),
    Case(
        "profile-table-not-a-table",
        ["status", f"codeocean:{CO_RUN}"],
        2,
        ("codeocean",),
        files={"config.toml": "[default]\ncodeocean = 5\n"},
        env={"RUNHUB_CONFIG": "config.toml"},
    ),
]


@pytest.fixture(scope="module")
def platforms() -> Iterator[dict[str, Platform]]:
    with serve("ica") as ica, serve("codeocean") as co:
        yield {"ica": ica, "codeocean": co}


@pytest.fixture
def configured(
    platforms: dict[str, Platform], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[dict[str, Platform]]:
    for platform in platforms.values():
        for key, value in platform.env().items():
            monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    yield platforms
    assert [p.created_ids() for p in platforms.values()] == [[], []], "bad input launched a run"


def _prepare(case: Case, tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, content in case.files.items():
        path = tmp / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    for key, value in case.env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, str(tmp / value) if key == "RUNHUB_CONFIG" else value)


@pytest.mark.parametrize("case", SPECS + SETTINGS, ids=lambda c: c.id)
def test_bad_spec_or_settings(
    case: Case, configured: dict[str, Platform], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _prepare(case, tmp_path, monkeypatch)
    line = cli_run(*case.argv).fails(case.code, *case.phrases)
    assert len(line) < 400, line
    assert not (tmp_path / "pwned").exists()


# -- samplesheets (`runhub batch`) -----------------------------------------------------

SHEETS: list[tuple[str, str | bytes, tuple[str, ...]]] = [
    ("sheet-empty", "", ("empty",)),
    ("sheet-header-only", "sample,reads\n", ("no data rows",)),
    ("sheet-missing-column", "sample\nA\n", ("{reads}", "names no column", "sample")),
    ("sheet-duplicate-names", "sample,reads\nA,/r/\nA,/s/\n", ("row 3", "repeats row 2")),
    ("sheet-not-utf8", b"sample,reads\ncaf\xe9,/r/\n", ("UTF-8",)),
    ("sheet-ragged-row", "sample,reads\nA\n", ("row 2", "1 cells")),
    ("sheet-duplicate-columns", "sample,sample,reads\nA,B,/r/\n", ("'sample' appears 2 times",)),
    ("sheet-empty-cell", "sample,reads\nA,\n", ("row 2", "'reads' is empty")),
    ("sheet-bad-row-value", "sample,reads\nA,/r/\nB/x*,/r/\n", ("row 3", "name")),
]
TEMPLATE = (
    "backend: ica\npipeline: fastqc-0-12\nname: 'sample {sample}'\n"
    "mounts: [{source: '{reads}', input: reads}]\n"
)


@pytest.mark.parametrize("case", SHEETS, ids=lambda c: c[0])
def test_bad_samplesheet(
    case: tuple[str, str | bytes, tuple[str, ...]],
    configured: dict[str, Platform],
    tmp_path: Path,
) -> None:
    _, content, phrases = case
    sheet = tmp_path / "sheet.csv"
    if isinstance(content, bytes):
        sheet.write_bytes(content)
    else:
        sheet.write_text(content)
    (tmp_path / "tpl.yaml").write_text(TEMPLATE)
    result = cli_run("batch", "tpl.yaml", "sheet.csv")
    # One line, or for row problems a first line with the count and one line per
    # problem (every problem of the batch is listed, with its row number).
    assert result.code == 2, (result.code, result.err)
    first, *more = result.err.strip().splitlines()
    assert first.startswith("runhub: error: sheet.csv: "), first
    assert all(line.startswith("  ") for line in more), result.err
    assert "Traceback" not in result.err + result.out
    for phrase in phrases:
        assert phrase in result.err, (phrase, result.err)


# -- platform answers -------------------------------------------------------------------


class Canned:
    """Answers every request with the same response (set ``answer``)."""

    def __init__(self) -> None:
        self.answer = (200, b"{}", "application/json")

    def handle(self, request: httpx.Request) -> httpx.Response:
        status, body, content_type = self.answer
        return httpx.Response(status, headers={"Content-Type": content_type}, content=body)


@pytest.fixture(scope="module")
def canned() -> Iterator[tuple[Canned, str]]:
    app = Canned()
    with EmulatorServer(app) as server:
        yield app, server.url


@pytest.fixture
def no_waiting() -> Iterator[None]:
    """Retries without sleeping (stamina's test mode), three tries each: a body that
    is always malformed is retried like one cut off in transit."""
    import stamina

    with stamina.set_testing(True, attempts=3):
        yield


def _problem(status: int, title: str, detail: str) -> bytes:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return json.dumps(body).encode()


HTML = b"<html><head><title>500</title></head><body><h1>Internal Server Error</h1>" + b"x" * 4000
PROBLEM = "application/problem+json"
JSON = "application/json"


@dataclass
class Answer:
    """A platform's answer to every request, and what the CLI must make of it."""

    id: str
    backend: str
    command: str  # "status" or "launch"
    status: int
    body: bytes
    content_type: str
    code: int
    phrases: tuple[str, ...]


ANSWERS = [
    Answer("401", "ica", "status", 401, _problem(401, "UNAUTHORIZED", "bad key"), PROBLEM, 3,
           ("401",)),
    Answer("403", "ica", "status", 403, _problem(403, "FORBIDDEN", "no access to project"),
           PROBLEM, 3, ("403", "no access to project")),
    Answer("404", "ica", "status", 404, _problem(404, "NOT_FOUND", "analysis not found"),
           PROBLEM, 4, ("404",)),
    Answer("409", "ica", "launch", 409, _problem(409, "CONFLICT", "still being processed"),
           PROBLEM, 4, ("409", "still being processed")),
    Answer("422-problem-json", "ica", "launch", 422,
           _problem(422, "UNPROCESSABLE", "storage size 'Huge' unknown"), PROBLEM, 4,
           ("422", "storage size 'Huge' unknown")),
    Answer("500-html", "ica", "status", 500, HTML, "text/html", 4, ("500",)),
    Answer("200-malformed-json", "ica", "status", 200, b'{"id": "x", "status": "SUCC', JSON, 4,
           ("JSON",)),
    Answer("200-missing-field", "ica", "status", 200, b'{"status": "SUCCEEDED"}', JSON, 4,
           ("without an id",)),
    Answer("co-401", "codeocean", "status", 401, b'{"message": "Unauthorized"}', JSON, 3,
           ("401",)),
    Answer("co-403", "codeocean", "launch", 403, b'{"message": "Forbidden"}', JSON, 3, ("403",)),
    Answer("co-404", "codeocean", "status", 404, b'{"message": "computation not found"}', JSON,
           4, ("404", "computation not found")),
    Answer("co-409", "codeocean", "launch", 409, b'{"message": "capsule is being built"}',
           JSON, 4, ("409", "capsule is being built")),
    Answer("co-422", "codeocean", "launch", 422, b'{"message": "bad parameter"}', JSON, 4,
           ("422", "bad parameter")),
    Answer("co-500-html", "codeocean", "status", 500, HTML, "text/html", 4, ("500",)),
    Answer("co-200-malformed-json", "codeocean", "status", 200, b'{"id": "', JSON, 4,
           ("JSON",)),
    Answer("co-200-missing-field", "codeocean", "launch", 200, b"{}", JSON, 4,
           ("without a computation id",)),
]  # fmt: skip


def _point_at(backend: str, url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    if backend == "ica":
        monkeypatch.setenv("ICAV2_SERVER_URL", url)
        monkeypatch.setenv("ICAV2_X_API_KEY", "k-0123456789")
        monkeypatch.setenv("ICAV2_PROJECT_ID", ICA_PROJECT)
        return ICA_RUN
    monkeypatch.setenv("CODEOCEAN_URL", url)
    monkeypatch.setenv("CODEOCEAN_API_TOKEN", "t-0123456789")
    return f"codeocean:{CO_RUN}"


@pytest.mark.parametrize("case", ANSWERS, ids=lambda c: c.id)
@pytest.mark.usefixtures("no_waiting")
def test_bad_platform_answer(
    case: Answer,
    canned: tuple[Canned, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    app, url = canned
    app.answer = (case.status, case.body, case.content_type)
    ref = _point_at(case.backend, url, monkeypatch)
    if case.command == "launch":
        path = tmp_path / "run.yaml"
        path.write_text(ICA_OK if case.backend == "ica" else CO_OK)
        result = cli_run("launch", str(path))
    else:
        result = cli_run("status", ref)
    line = result.fails(case.code, *case.phrases)
    assert len(line) < 400, line  # an HTML page is excerpted, not dumped


@pytest.mark.parametrize("backend", ["ica", "codeocean"])
def test_unknown_native_state_is_shown_not_raised(
    backend: str, canned: tuple[Canned, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "ica":
        body = {"id": CO_RUN, "status": "TELEPORTING", "userReference": "r"}
    else:
        body = {"id": CO_RUN, "created": 1, "state": "teleporting", "name": "r"}
    app, url = canned
    app.answer = (200, json.dumps(body).encode(), JSON)
    ref = _point_at(backend, url, monkeypatch)
    result = cli_run("status", ref, "-o", "json")
    assert result.code == 0, result.err
    shown = json.loads(result.out)
    shown = shown[0] if isinstance(shown, list) else shown
    assert shown["state"] == "UNKNOWN"
    assert shown["native"].lower() == "teleporting"
