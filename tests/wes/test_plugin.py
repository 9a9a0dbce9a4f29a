"""runhub-wes is a plugin like any outside one: registered through the ``runhub`` entry
point group, and written against runhub's public plugin API only (docs/plugins.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytest.importorskip("runhub_wes", reason="runhub-wes is not installed (pip install -e plugins/wes)")

import runhub_wes

from runhub.plugins import registry

PUBLIC = {
    "runhub",
    "runhub.backend",
    "runhub.config",
    "runhub.detail",
    "runhub.errors",
    "runhub.gather",
    "runhub.hookspecs",
    "runhub.spec",
    "runhub.state",
    "runhub.testing",
}


def test_the_entry_point_registers_the_wes_backend() -> None:
    found = registry()
    info = found.backends["wes"]
    assert info.cls is runhub_wes.WesBackend
    assert info.distribution == "runhub-wes"
    assert not [f for f in found.failures if f.plugin == "wes"]


def test_the_plugin_imports_only_the_public_api() -> None:
    package = Path(runhub_wes.__file__).parent
    used: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                if name == "runhub" or name.startswith("runhub."):
                    used.setdefault(name, set()).add(path.name)
    assert set(used) <= PUBLIC, {k: v for k, v in used.items() if k not in PUBLIC}
    assert (package / "py.typed").exists()
