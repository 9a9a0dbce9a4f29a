"""What the sync and async clients share: backends, settings, redaction, the
ledger, and small helpers. Nothing here imports httpx: the transport is loaded only
when an HTTP backend is first used, so the ``local`` backend stays light.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from runhub.backend import Backend, Operation, RunRef
from runhub.config import load_profile, load_settings, profile_name
from runhub.errors import ConfigError, RunhubError, Unsupported
from runhub.plugins import Registry, registry
from runhub.policy import Redactor, RetryPolicy
from runhub.spec import RunSpec
from runhub.state import RunStatus

if TYPE_CHECKING:  # sqlite3 is loaded only by clients that keep a ledger
    from runhub.ledger import Launch, Ledger

T = TypeVar("T")
DEFAULT_BACKEND = "local"
SpecLike = RunSpec | str | Path
RefLike = RunRef | str


@dataclass(frozen=True)
class PollSchedule:
    """How often ``wait``/``watch`` ask: from ``initial`` seconds, times ``factor``
    each poll, up to ``cap``, each delay jittered by ±``jitter`` (a fraction)."""

    initial: float = 2.0
    factor: float = 1.5
    cap: float = 30.0
    jitter: float = 0.1

    def delays(self) -> Iterable[float]:
        """An endless series of delays."""
        delay = self.initial
        while True:
            spread = delay * self.jitter
            yield max(0.0, delay + random.uniform(-spread, spread))
            delay = min(self.cap, delay * self.factor)


def new_key() -> str:
    """A fresh launch key (the idempotency key for one launch)."""
    return uuid.uuid4().hex


def new_batch_id() -> str:
    """A fresh, short, sortable batch id."""
    return time.strftime("%Y%m%d%H%M%S") + "-" + uuid.uuid4().hex[:6]


def as_ref(ref: RefLike) -> RunRef:
    """A RunRef from a RunRef or its text form."""
    return ref if isinstance(ref, RunRef) else RunRef.parse(ref)


def as_spec(spec: SpecLike) -> RunSpec:
    """A RunSpec from a RunSpec or a path to a YAML/JSON file."""
    return spec if isinstance(spec, RunSpec) else RunSpec.from_file(spec)


class _ClientBase:
    """Backends, settings and redaction shared by the sync and async clients."""

    def __init__(
        self,
        *,
        profile: str | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        policy: RetryPolicy | None = None,
        plugins: Registry | None = None,
        ledger: Ledger | Literal[False] | None = None,
    ) -> None:
        self.profile = profile_name(profile)
        # None: the default ledger, opened on first need (and closed with the client).
        self._ledger: Ledger | Literal[False] | None = ledger
        self._owns_ledger = False
        #: Limits and retries: given, or the defaults with RUNHUB_* variables applied.
        self.policy = policy or RetryPolicy.from_env()
        self._flags = {name: dict(values) for name, values in (settings or {}).items()}
        self._plugins = plugins
        self._profile_tables: dict[str, Any] | None = None
        self._backends: dict[str, Backend] = {}
        self.redact = Redactor()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} profile={self.profile!r} backends={sorted(self._backends)}>"

    @property
    def ledger(self) -> Ledger | None:
        """Where launches are recorded before they are sent: the ledger given, else
        the default one (``RUNHUB_HOME/ledger.sqlite``); None with ``ledger=False``."""
        if self._ledger is None:
            from runhub.ledger import Ledger

            self._ledger = Ledger(profile=self.profile)
            self._owns_ledger = True
        return self._ledger or None

    @ledger.setter
    def ledger(self, value: Ledger | Literal[False] | None) -> None:
        # Assigning None (or False) turns recording off; assign a Ledger to record.
        self._close_ledger()
        self._ledger = value or False

    def _close_ledger(self) -> None:
        """Close the default ledger if this client opened it."""
        if self._owns_ledger and self._ledger:
            self._ledger.close()
            self._ledger, self._owns_ledger = None, False

    def _recording(self) -> Ledger | None:
        """The ledger to update with statuses: one given or already open, or the
        default one if it exists (a status check alone never creates a ledger)."""
        if self._ledger is None:
            from runhub.ledger.location import configured, is_url

            where = configured(self.profile).location
            if not is_url(where) and not Path(where).exists():
                return None
        return self.ledger

    @property
    def lease(self) -> float:
        """How long a claim on a ledger row lasts without a request: one request
        with every retry this client's policy allows, and a margin."""
        from runhub.ledger.claims import lease_for

        return lease_for(self.policy)

    @property
    def plugins(self) -> Registry:
        """The backends available to this client."""
        if self._plugins is None:
            self._plugins = registry()
        return self._plugins

    def _profile(self) -> dict[str, Any]:
        if self._profile_tables is None:
            self._profile_tables = load_profile(self.profile)
        return self._profile_tables

    def backend(self, name: str) -> Backend:
        """The backend called ``name``, configured from flags > env > profile."""
        cached = self._backends.get(name)
        if cached is not None:
            return cached
        cls = self.plugins.get(name)
        table = self._profile().get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"profile {self.profile!r}: [{self.profile}.{name}] must be a table")
        settings = load_settings(
            cls.settings_model, profile=table, backend=name, **self._flags.get(name, {})
        )
        backend = cls(settings)
        self.redact.add(backend.secrets())
        self._backends[name] = backend
        return backend

    def backend_name(self, spec: RunSpec | None = None, explicit: str | None = None) -> str:
        """Which backend runs ``spec``: explicit > spec.backend > profile default > local."""
        chosen = explicit or (spec.backend if spec else None) or self._profile().get("backend")
        return str(chosen or DEFAULT_BACKEND)

    def _prepare(self, spec: SpecLike, backend: str | None) -> tuple[Backend, RunSpec]:
        run_spec = as_spec(spec)
        chosen = self.backend(self.backend_name(run_spec, backend))
        chosen.validate(run_spec)
        if chosen.capabilities.stage:
            from runhub.transfer.local import check_mounts

            check_mounts(run_spec)  # local files exist and can be read, before anything
        return chosen, run_spec

    def _intents(
        self,
        launches: Sequence[tuple[Backend, RunSpec]],
        batch: str | None,
        rows: Sequence[str | None],
        key: str | None = None,
    ) -> list[Launch]:
        """Ledger rows for launches about to happen (one transaction for them all)."""
        from runhub.ledger import Intent

        ledger = self.ledger
        assert ledger is not None
        records = ledger.intents(
            [
                Intent(backend.name, spec.digest(), batch, row, spec.name, key)
                for (backend, spec), row in zip(launches, rows, strict=True)
            ]
        )
        # The spec each launch is made with, for `runhub show` and `runhub relaunch`.
        ledger.keep_specs(
            [(r.key, spec.to_data(), None) for r, (_, spec) in zip(records, launches, strict=True)]
        )
        return records

    def _observe(self, statuses: Sequence[RunStatus]) -> None:
        ledger = self._recording()
        if ledger is not None:
            ledger.observe(statuses)

    def _check_capability(self, backend: Backend, capability: str, action: str) -> None:
        if not getattr(backend.capabilities, capability):
            raise Unsupported(f"the {backend.name} backend cannot {action}")

    def reset_backends(self) -> None:
        """Drop the cached backend instances (their lookup caches and in-memory
        state), as a new process would start; the next use builds them afresh."""
        self._close_backends()
        self._backends.clear()
        drivers = getattr(self, "_drivers", None)
        if isinstance(drivers, dict):
            drivers.clear()

    def _close_backends(self) -> None:
        for backend in self._backends.values():
            backend.close()


def _group(refs: Sequence[RunRef]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for index, ref in enumerate(refs):
        groups.setdefault(ref.backend, []).append(index)
    return groups


def _check_statuses(backend: Backend, asked: Sequence[RunRef], got: Sequence[RunStatus]) -> None:
    if len(got) != len(asked):
        raise RunhubError(
            f"the {backend.name} backend answered {len(got)} statuses for {len(asked)} runs"
        )


class PlainDriver:
    """Runs the operations of a backend that does no HTTP (``capabilities.http`` False)."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def run(self, op: Operation[T]) -> T:
        """Drive ``op``, which must never yield a request."""
        if not isinstance(op, Generator):
            return op
        gen = cast(Generator[Any, Any, T], op)
        try:
            next(gen)
        except StopIteration as stop:
            return cast(T, stop.value)
        gen.close()
        raise RunhubError(f"the {self.backend.name} backend has no HTTP but sent a request")
