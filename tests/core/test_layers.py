"""The house's arrows point down: the model imports nothing above it, and the core
never imports a plugin package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import runhub

ROOT = Path(runhub.__file__).parent
#: The model: what every other layer may import, and which imports only itself.
MODEL = {"runhub.errors", "runhub.ref", "runhub.spec", "runhub.state"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("module", sorted(MODEL))
def test_the_model_imports_only_the_model(module: str) -> None:
    path = ROOT / (module.removeprefix("runhub.") + ".py")
    above = sorted(m for m in _imports(path) if m.startswith("runhub") and m not in MODEL)
    assert above == [], f"{module} imports {above}"


def test_the_core_never_imports_a_plugin() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imports(path) if m.startswith("runhub_"))
        for path in ROOT.rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
