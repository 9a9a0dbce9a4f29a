"""docs/plugins.md works as written: its files are extracted, installed as a plugin
(a dist-info with the entry point, as pip would write) and its tests run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"
BLOCK = re.compile(r'^```\w+ title="(?P<path>[^"]+)"\n(?P<body>.*?)^```$', re.M | re.S)


def extract(doc: Path, into: Path) -> dict[str, str]:
    files = {m["path"]: m["body"] for m in BLOCK.finditer(doc.read_text(encoding="utf-8"))}
    for name, body in files.items():
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    return files


def install(project: Path) -> None:
    """What `pip install -e` leaves behind that runhub reads: the entry points."""
    meta = tomllib.loads((project / "pyproject.toml").read_text())["project"]
    info = project / f"{meta['name'].replace('-', '_')}-{meta['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n"
    )
    points = meta["entry-points"]["runhub"]
    (info / "entry_points.txt").write_text(
        "[runhub]\n" + "".join(f"{k} = {v}\n" for k, v in points.items())
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("runhub-echo")
    files = extract(DOC, root)
    assert {"pyproject.toml", "runhub_echo/backend.py", "tests/test_conformance.py"} <= set(files)
    install(root)
    return root


def env_for(project: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(project), env.get("PYTHONPATH", "")])
    env["RUNHUB_CONFIG"] = str(project / "no-config.toml")
    env["RUNHUB_HOME"] = str(project / "home")
    env.pop("RUNHUB_DISABLE_PLUGINS", None)
    env.pop("RUNHUB_LOAD_PLUGINS", None)
    return env


def test_the_documented_plugin_is_found_through_its_entry_point(project: Path) -> None:
    code = (
        "from runhub.plugins import load; r = load();"
        "i = r.backends['echo']; print(i.plugin, i.distribution, i.version, r.failures)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env_for(project),
        cwd=project,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["echo", "runhub-echo", "0.1.0", "[]"]


def test_the_documented_plugin_passes_its_documented_tests(project: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        env=env_for(project),
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    summary = out.stdout.strip().splitlines()[-1]
    passed = re.search(r"\b(\d+) passed\b", summary)
    assert passed, summary
    assert int(passed[1]) >= 13, summary  # the 11 conformance tests and the doc's own
    assert "skipped" not in summary
    assert "failed" not in summary


def test_the_documented_code_is_lint_clean(project: Path) -> None:
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed next to this Python")
    out = subprocess.run(
        [str(ruff), "check", "--quiet", "--no-cache", "--select", "E,F,W,B,UP", "--line-length",
         "100", "--target-version", "py311", str(project)],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_conformance_suite_catches_a_broken_backend(project: Path, tmp_path: Path) -> None:
    """The same plugin with two bugs planted: a secret in its repr, and a stopped run
    mapped to FAILED. The suite must fail exactly the two tests that cover them."""
    broken = tmp_path / "broken"
    shutil.copytree(project, broken)
    backend = broken / "runhub_echo" / "backend.py"
    code = backend.read_text()
    code = code.replace('"stopped": RunState.CANCELLED', '"stopped": RunState.FAILED')
    code = code.replace(
        "    # -- helpers ---",
        "    def __repr__(self) -> str:\n"
        "        return f'<Echo {self.config.token.get_secret_value()}>'\n\n"
        "    # -- helpers ---",
    )
    backend.write_text(code)
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        env=env_for(broken),
        cwd=broken,
        capture_output=True,
        text=True,
        timeout=120,
    )
    failed = sorted(re.findall(r"^FAILED \S+::(\w+)", out.stdout, re.M))
    assert failed == ["test_cancel_ends_cancelled", "test_secrets_never_appear"], out.stdout
    assert "echo-test-token-7f3a9c" not in out.stdout  # the report itself stays clean
