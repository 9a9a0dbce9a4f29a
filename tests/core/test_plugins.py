"""Plugin loading: built-ins, entry points, broken plugins isolated, selection by env."""

from __future__ import annotations

import importlib.metadata
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runhub import plugins
from runhub.backend import Backend
from runhub.config import BackendSettings
from runhub.errors import ConfigError
from runhub.hookspecs import hookimpl

Candidate = tuple[str, Any, str | None, str | None, bool]


def backend_class(name: str) -> type[Backend]:
    return type(
        f"{name.title()}Backend", (Backend,), {"name": name, "settings_model": BackendSettings}
    )


def plugin_module(name: str, *backends: type[Backend], fail: Exception | None = None) -> Any:
    """A plugin module whose hook registers ``backends`` (or raises ``fail``)."""
    module = types.ModuleType(f"fake_plugin_{name}")

    @hookimpl
    def runhub_register_backends(register: Callable[[type[Backend]], Any]) -> None:
        for cls in backends:
            register(cls)
        if fail is not None:
            raise fail

    module.runhub_register_backends = runhub_register_backends  # type: ignore[attr-defined]
    return module


def loader_of(module: Any) -> Callable[[], Any]:
    return lambda: module


def broken_loader() -> Any:
    raise ImportError("No module named 'runhub_broken_dep'")


@pytest.fixture
def candidates(monkeypatch: pytest.MonkeyPatch) -> list[Candidate]:
    """The plugin candidates load() sees: the real built-ins plus what a test appends."""
    monkeypatch.delenv("RUNHUB_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("RUNHUB_LOAD_PLUGINS", raising=False)
    found: list[Candidate] = [
        (name, (lambda m=module: importlib.import_module(m)), "runhub", "0", True)
        for name, module in plugins.BUILTINS
    ]
    monkeypatch.setattr(plugins, "_candidates", lambda: found)
    return found


def external(name: str, loader: Callable[[], Any]) -> Candidate:
    return (name, loader, f"runhub-{name}", "1.2.3", False)


def test_local_is_built_in(candidates: list[Candidate]) -> None:
    registry = plugins.load()
    info = registry.backends["local"]
    assert info.plugin == "local"
    assert info.distribution == "runhub"
    assert registry.get("local").name == "local"
    assert registry.failures == []


def test_external_plugin_registers_its_backends(candidates: list[Candidate]) -> None:
    echo, other = backend_class("echo"), backend_class("other")
    candidates.append(external("echo", loader_of(plugin_module("echo", echo, other))))
    registry = plugins.load()
    assert registry.get("echo") is echo
    assert registry.get("other") is other
    assert registry.backends["echo"].distribution == "runhub-echo"
    assert registry.backends["echo"].version == "1.2.3"


def test_broken_import_is_reported_and_skipped(candidates: list[Candidate]) -> None:
    good = backend_class("good")
    candidates.append(external("broken", broken_loader))
    candidates.append(external("good", loader_of(plugin_module("good", good))))
    registry = plugins.load()
    assert registry.get("good") is good
    assert "local" in registry.backends
    assert [f.plugin for f in registry.failures] == ["broken"]
    assert "ImportError" in registry.failures[0].error
    assert "runhub_broken_dep" in registry.failures[0].error
    with pytest.raises(ConfigError, match="backend 'broken' failed to load: ImportError"):
        registry.get("broken")


def test_hook_that_raises_is_reported_and_registers_nothing(candidates: list[Candidate]) -> None:
    half = backend_class("half")
    candidates.append(
        external("half", loader_of(plugin_module("half", half, fail=RuntimeError("no config"))))
    )
    candidates.append(external("fine", loader_of(plugin_module("fine", backend_class("fine")))))
    registry = plugins.load()
    assert "half" not in registry.backends  # partial registrations are dropped
    assert "fine" in registry.backends
    assert [(f.plugin, f.error) for f in registry.failures] == [("half", "RuntimeError: no config")]


def test_registering_a_class_without_a_name_is_a_failure(candidates: list[Candidate]) -> None:
    nameless = type("Nameless", (Backend,), {})
    candidates.append(external("nameless", loader_of(plugin_module("nameless", nameless))))
    registry = plugins.load()
    assert [f.plugin for f in registry.failures] == ["nameless"]
    assert "has no backend name" in registry.failures[0].error


def test_duplicate_backend_names_keep_the_first(candidates: list[Candidate]) -> None:
    first, second = backend_class("dup"), backend_class("dup")
    candidates.append(external("one", loader_of(plugin_module("one", first))))
    candidates.append(external("two", loader_of(plugin_module("two", second))))
    registry = plugins.load()
    assert registry.get("dup") is first
    assert len(registry.failures) == 1
    assert registry.failures[0].plugin == "two"
    assert "'dup' is already registered by one" in registry.failures[0].error


def test_plugin_cannot_replace_a_built_in(candidates: list[Candidate]) -> None:
    impostor = backend_class("local")
    candidates.append(external("impostor", loader_of(plugin_module("impostor", impostor))))
    registry = plugins.load()
    assert registry.get("local") is not impostor
    assert registry.failures[0].plugin == "impostor"


def test_disable_plugins(candidates: list[Candidate], monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[str] = []

    def tracking(name: str) -> Callable[[], Any]:
        def load() -> Any:
            called.append(name)
            return plugin_module(name, backend_class(name))

        return load

    candidates += [external("a", tracking("a")), external("b", tracking("b"))]
    monkeypatch.setenv("RUNHUB_DISABLE_PLUGINS", " b , local ")
    registry = plugins.load()
    assert sorted(registry.backends) == ["a"]
    assert called == ["a"]  # a disabled plugin is not even imported


def test_load_only_selected_plugins_plus_built_ins(
    candidates: list[Candidate], monkeypatch: pytest.MonkeyPatch
) -> None:
    candidates += [
        external(n, loader_of(plugin_module(n, backend_class(n)))) for n in ("a", "b", "c")
    ]
    monkeypatch.setenv("RUNHUB_LOAD_PLUGINS", "a,c")
    assert sorted(plugins.load().backends) == ["a", "c", "local"]
    monkeypatch.setenv("RUNHUB_LOAD_PLUGINS", "")
    assert sorted(plugins.load().backends) == ["local"]


def test_unknown_backend_names_the_installed_ones(candidates: list[Candidate]) -> None:
    with pytest.raises(ConfigError) as err:
        plugins.load().get("nextflow-tower")
    assert "unknown backend 'nextflow-tower' (installed: local)" in str(err.value)
    assert "pip install runhub-nextflow-tower" in str(err.value)


def test_the_process_registry_is_cached(
    candidates: list[Candidate], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugins, "_cached", None)  # restored afterwards
    first = plugins.registry(reload=True)
    assert plugins.registry() is first
    candidates.append(external("late", loader_of(plugin_module("late", backend_class("late")))))
    assert "late" not in plugins.registry().backends
    assert "late" in plugins.registry(reload=True).backends


def test_real_entry_points_are_read(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Through importlib.metadata, as an installed distribution would be found."""
    monkeypatch.delenv("RUNHUB_DISABLE_PLUGINS", raising=False)
    monkeypatch.delenv("RUNHUB_LOAD_PLUGINS", raising=False)
    package = tmp_path / "runhub_fake_ep"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from runhub.backend import Backend\n"
        "from runhub.config import BackendSettings\n"
        "from runhub.hookspecs import hookimpl\n"
        "class FakeBackend(Backend):\n"
        "    name = 'fake-ep'\n"
        "    settings_model = BackendSettings\n"
        "@hookimpl\n"
        "def runhub_register_backends(register):\n"
        "    register(FakeBackend)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "runhub_fake_ep", raising=False)
    points = [
        importlib.metadata.EntryPoint("fake-ep", "runhub_fake_ep", plugins.GROUP),
        importlib.metadata.EntryPoint("gone", "runhub_not_installed_anywhere", plugins.GROUP),
    ]

    def entry_points(**selection: Any) -> list[importlib.metadata.EntryPoint]:
        assert selection == {"group": plugins.GROUP}
        return points

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    registry = plugins.load()
    assert registry.get("fake-ep").__name__ == "FakeBackend"
    assert registry.backends["fake-ep"].distribution is None
    assert [f.plugin for f in registry.failures] == ["gone"]
    assert "ModuleNotFoundError" in registry.failures[0].error


def test_plugin_without_the_hook_is_reported(candidates: list[Candidate]) -> None:
    candidates.append(external("hookless", loader_of(types.ModuleType("hookless"))))
    registry = plugins.load()
    assert [(f.plugin, f.error) for f in registry.failures] == [
        ("hookless", "defines no runhub_register_backends hook")
    ]


def test_hook_with_the_wrong_signature_is_reported(candidates: list[Candidate]) -> None:
    module = types.ModuleType("wrong_signature")

    @hookimpl
    def runhub_register_backends(add: Any) -> None:  # the argument must be `register`
        add(backend_class("wrong"))

    module.runhub_register_backends = runhub_register_backends  # type: ignore[attr-defined]
    candidates.append(external("wrong", loader_of(module)))
    registry = plugins.load()
    assert "wrong" not in registry.backends
    assert [f.plugin for f in registry.failures] == ["wrong"]
    assert "PluginValidationError" in registry.failures[0].error
