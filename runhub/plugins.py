"""Plugin loading: the built-in backends and the ``runhub`` entry-point group.

A plugin that fails to import or to register is recorded with its error and
skipped: it never breaks the CLI or the other plugins. ``RUNHUB_DISABLE_PLUGINS``
(names to skip) and ``RUNHUB_LOAD_PLUGINS`` (only these, plus built-ins) select
plugins by entry-point name.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pluggy

from runhub import hookspecs
from runhub.errors import ConfigError

if TYPE_CHECKING:
    from runhub.backend import Backend

#: Built-in plugins: (name, module). Registered like external ones.
BUILTINS: tuple[tuple[str, str], ...] = (("local", "runhub.local"),)
GROUP = "runhub"


@dataclass(frozen=True)
class BackendInfo:
    """A registered backend and where it came from."""

    cls: type[Backend]
    plugin: str
    distribution: str | None
    version: str | None


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded or could not register."""

    plugin: str
    error: str


@dataclass
class Registry:
    """Every backend that loaded, and every plugin that did not."""

    backends: dict[str, BackendInfo] = field(default_factory=dict)
    failures: list[PluginFailure] = field(default_factory=list)

    def get(self, name: str) -> type[Backend]:
        """The backend class called ``name``, or a ConfigError listing the known ones."""
        info = self.backends.get(name)
        if info is not None:
            return info.cls
        known = ", ".join(sorted(self.backends)) or "none"
        failed = [f for f in self.failures if f.plugin == name]
        if failed:
            raise ConfigError(f"backend {name!r} failed to load: {failed[0].error}")
        if name in (_names("RUNHUB_DISABLE_PLUGINS") or set()):
            raise ConfigError(
                f"backend {name!r} is disabled by RUNHUB_DISABLE_PLUGINS",
                hint=f"remove {name} from RUNHUB_DISABLE_PLUGINS to use it",
            )
        only = _names("RUNHUB_LOAD_PLUGINS")
        if only is not None and name not in only and _installed(name):
            raise ConfigError(
                f"backend {name!r} is not loaded: RUNHUB_LOAD_PLUGINS names only "
                + ", ".join(sorted(only)),
                hint=f"add {name} to RUNHUB_LOAD_PLUGINS to use it",
            )
        import difflib

        near = difflib.get_close_matches(name, list(self.backends), n=1, cutoff=0.6)
        if not near and len(name) > 2:  # icav2 -> ica, codeocean-v1 -> codeocean
            near = [b for b in self.backends if name.startswith(b) or b.startswith(name)][:1]
        if near:
            raise ConfigError(
                f"unknown backend {name!r} (installed: {known})", hint=f"did you mean {near[0]!r}?"
            )
        raise ConfigError(f"unknown backend {name!r} (installed: {known})", hint=install_hint(name))


def install_hint(name: str) -> str:
    """How to install the plugin for backend ``name``: from a clone of runhub while
    the plugins are not on a package index, else from the index."""
    return (
        f"install its plugin; from a clone of runhub: pip install ./plugins/{name}"
        f" (once published: pip install runhub-{name})"
    )


def _installed(name: str) -> bool:
    return any(ep.name == name for ep in importlib.metadata.entry_points(group=GROUP))


def _names(variable: str) -> set[str] | None:
    raw = os.environ.get(variable)
    if raw is None:
        return None
    return {n.strip() for n in raw.split(",") if n.strip()}


def _selected(name: str, builtin: bool) -> bool:
    disabled = _names("RUNHUB_DISABLE_PLUGINS") or set()
    if name in disabled:
        return False
    only = _names("RUNHUB_LOAD_PLUGINS")
    return builtin or only is None or name in only


def _candidates() -> list[tuple[str, Any, str | None, str | None, bool]]:
    """(name, loader, distribution, version, builtin) for every plugin to try."""
    from runhub import __version__

    found: list[tuple[str, Any, str | None, str | None, bool]] = [
        (name, lambda m=module: importlib.import_module(m), "runhub", __version__, True)
        for name, module in BUILTINS
    ]
    for ep in importlib.metadata.entry_points(group=GROUP):
        dist = ep.dist
        found.append(
            (ep.name, ep.load, dist.name if dist else None, dist.version if dist else None, False)
        )
    return found


def load(pm: pluggy.PluginManager | None = None) -> Registry:
    """Load every selected plugin and collect the backends they register."""
    pm = pm or pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    for name, loader, dist, version, builtin in _candidates():
        if not _selected(name, builtin):
            continue
        try:
            plugin: ModuleType = loader()
            if pm.is_registered(plugin):
                continue
            pm.register(plugin, name=name)
        except Exception as exc:  # a broken plugin is reported, never fatal
            registry.failures.append(PluginFailure(name, _describe(exc)))
            continue
        _register_from(pm, name, plugin, dist, version, registry)
    return registry


def _register_from(
    pm: pluggy.PluginManager,
    name: str,
    plugin: Any,
    dist: str | None,
    version: str | None,
    registry: Registry,
) -> None:
    # Call this plugin's hook alone, so one plugin's failure cannot hide the others.
    hook = getattr(plugin, "runhub_register_backends", None)
    if hook is None:  # a mistyped entry point would otherwise vanish without a word
        registry.failures.append(PluginFailure(name, "defines no runhub_register_backends hook"))
        pm.unregister(plugin)
        return
    added: dict[str, BackendInfo] = {}

    def register(cls: type[Backend]) -> None:
        backend_name = getattr(cls, "name", None)
        if not isinstance(backend_name, str) or not backend_name:
            raise TypeError(f"{cls!r} has no backend name")
        added[backend_name] = BackendInfo(cls, name, dist, version)

    try:
        hook(register=register)
    except Exception as exc:
        registry.failures.append(PluginFailure(name, _describe(exc)))
        pm.unregister(plugin)
        return
    for backend_name, info in added.items():
        if backend_name in registry.backends:
            other = registry.backends[backend_name].plugin
            registry.failures.append(
                PluginFailure(name, f"backend {backend_name!r} is already registered by {other}")
            )
            continue
        registry.backends[backend_name] = info


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


_cached: Registry | None = None


def registry(*, reload: bool = False) -> Registry:
    """The process-wide registry, loaded on first use."""
    global _cached
    if _cached is None or reload:
        _cached = load()
    return _cached
