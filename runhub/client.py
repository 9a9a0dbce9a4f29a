"""``Client`` and ``AsyncClient``: launch, track, wait for, cancel and list runs.

Both hold one pooled httpx client per process-side client (connection reuse), one
backend instance per backend name (so lookups are cached per client), and drive the
backends' exchanges through :mod:`runhub.transport`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import httpx

from runhub.backend import Backend, Output, RunRef
from runhub.config import load_profile, load_settings, profile_name
from runhub.errors import ConfigError, RunhubError, Unsupported, WaitTimeout
from runhub.ledger import Launch, Ledger
from runhub.plugins import Registry, registry
from runhub.spec import RunSpec
from runhub.state import RunStatus
from runhub.tracking import needs_recovery, tracked_launch
from runhub.transport import (
    AsyncDriver,
    DryRun,
    DryRunDriver,
    Redactor,
    RetryPolicy,
    SyncDriver,
)

log = logging.getLogger("runhub.client")

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
        ledger: Ledger | None = None,
    ) -> None:
        self.profile = profile_name(profile)
        #: Where launches are recorded before they are sent (None: not recorded).
        self.ledger = ledger
        self.policy = policy or RetryPolicy()
        self._flags = {name: dict(values) for name, values in (settings or {}).items()}
        self._plugins = plugins
        self._profile_tables: dict[str, Any] | None = None
        self._backends: dict[str, Backend] = {}
        self.redact = Redactor()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} profile={self.profile!r} backends={sorted(self._backends)}>"

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
        return chosen, run_spec

    def _intent(
        self, backend: Backend, spec: RunSpec, batch: str | None, row_key: str | None
    ) -> Launch:
        assert self.ledger is not None
        return self.ledger.intent(
            backend.name, spec.digest(), batch=batch, row_key=row_key, name=spec.name
        )

    def _observe(self, statuses: Sequence[RunStatus]) -> None:
        if self.ledger is not None:
            self.ledger.observe(statuses)

    def _check_capability(self, backend: Backend, capability: str, action: str) -> None:
        if not getattr(backend.capabilities, capability):
            raise Unsupported(f"the {backend.name} backend cannot {action}")

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


class Client(_ClientBase):
    """The synchronous runhub client.

    ``transport`` replaces the network (e.g. an emulator's in-process transport).
    Use as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        *,
        profile: str | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        transport: httpx.BaseTransport | None = None,
        policy: RetryPolicy | None = None,
        plugins: Registry | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        super().__init__(
            profile=profile, settings=settings, policy=policy, plugins=plugins, ledger=ledger
        )
        self._transport = transport
        self._http: httpx.Client | None = None
        self._drivers: dict[str, SyncDriver] = {}

    @property
    def http(self) -> httpx.Client:
        """The pooled httpx client (created on first use)."""
        if self._http is None:
            self._http = httpx.Client(transport=self._transport, timeout=self.policy.timeout())
        return self._http

    def driver(self, backend: Backend) -> SyncDriver:
        """The driver for ``backend`` (one per backend, sharing the pool)."""
        driver = self._drivers.get(backend.name)
        if driver is None:
            driver = SyncDriver(self.http, backend, self.policy, self.redact)
            self._drivers[backend.name] = driver
        return driver

    def close(self) -> None:
        """Close the connection pool and release backends."""
        self._close_backends()
        if self._http is not None:
            self._http.close()
            self._http = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- operations ------------------------------------------------------------

    def validate(self, spec: SpecLike, backend: str | None = None) -> RunSpec:
        """Check ``spec`` offline (model + backend); returns the parsed spec."""
        return self._prepare(spec, backend)[1]

    def launch(
        self,
        spec: SpecLike,
        backend: str | None = None,
        *,
        key: str | None = None,
        batch: str | None = None,
        row_key: str | None = None,
    ) -> RunStatus:
        """Launch one run. ``key`` makes the launch idempotent (reuse it on retry).

        With a ledger, the launch is recorded first and (``batch``, ``row_key``)
        identifies it: launching the same row again re-attaches to its run.
        """
        chosen, run_spec = self._prepare(spec, backend)
        driver = self.driver(chosen)
        if self.ledger is None:
            return driver.run(chosen.launch(run_spec, key or new_key(), batch=batch))
        record = self._intent(chosen, run_spec, batch, row_key)
        return driver.run(tracked_launch(chosen, run_spec, record, self.ledger))

    def dry_run(self, spec: SpecLike, backend: str | None = None) -> DryRun:
        """Resolve everything a launch needs (read-only requests only) and return
        the request that *would* be sent, without sending it."""
        chosen, run_spec = self._prepare(spec, backend)
        if not chosen.capabilities.http:
            return DryRun([], None, chosen.describe_launch(run_spec))
        driver = DryRunDriver(self.http, chosen, self.policy, self.redact)
        return driver.dry_run(chosen.launch(run_spec, new_key()))

    def status(self, ref: RefLike) -> RunStatus:
        """The current status of one run."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        return self.driver(backend).run(backend.status(run))

    def statuses(self, refs: Sequence[RefLike]) -> list[RunStatus]:
        """Current statuses of many runs (batched per backend where possible)."""
        runs = [as_ref(r) for r in refs]
        results: list[RunStatus | None] = [None] * len(runs)
        for name, indexes in _group(runs).items():
            backend = self.backend(name)
            asked = [runs[i] for i in indexes]
            got = self.driver(backend).run(backend.statuses(asked))
            _check_statuses(backend, asked, got)
            self._observe(got)
            for index, status in zip(indexes, got, strict=True):
                results[index] = status
        return [s for s in results if s is not None]

    def wait(
        self, ref: RefLike, timeout: float | None = None, poll: PollSchedule | None = None
    ) -> RunStatus:
        """Poll until the run is terminal; ``WaitTimeout`` at the deadline (the run
        is left alone)."""
        run = as_ref(ref)
        deadline = None if timeout is None else time.monotonic() + timeout
        for delay in (poll or PollSchedule()).delays():
            status = self.status(run)
            if status.is_terminal:
                return status
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(
                        f"{run} still {status.state.value} after {timeout:g} s; left running",
                        last=status,
                    )
                delay = min(delay, left)
            time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    def cancel(self, ref: RefLike) -> RunStatus:
        """Ask the platform to stop the run."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        self._check_capability(backend, "cancel", "cancel runs")
        return self.driver(backend).run(backend.cancel(run))

    def outputs(self, ref: RefLike) -> list[Output]:
        """The run's result files."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        self._check_capability(backend, "outputs", "list outputs")
        return self.driver(backend).run(backend.outputs(run))

    def download_urls(self, ref: RefLike, outputs: Sequence[Output]) -> list[Output]:
        """The outputs with download URLs set."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        return self.driver(backend).run(backend.download_urls(run, outputs))


class AsyncClient(_ClientBase):
    """The asyncio runhub client, for many runs at once."""

    def __init__(
        self,
        *,
        profile: str | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        plugins: Registry | None = None,
        ledger: Ledger | None = None,
        max_connections: int = 64,
    ) -> None:
        super().__init__(
            profile=profile, settings=settings, policy=policy, plugins=plugins, ledger=ledger
        )
        self._transport = transport
        self._max_connections = max_connections
        self._http: httpx.AsyncClient | None = None
        self._drivers: dict[str, AsyncDriver] = {}

    @property
    def http(self) -> httpx.AsyncClient:
        """The pooled httpx client (created on first use)."""
        if self._http is None:
            limits = httpx.Limits(
                max_connections=self._max_connections,
                max_keepalive_connections=self._max_connections,
            )
            self._http = httpx.AsyncClient(
                transport=self._transport, timeout=self.policy.timeout(), limits=limits
            )
        return self._http

    def driver(self, backend: Backend) -> AsyncDriver:
        """The driver for ``backend`` (one per backend, sharing the pool)."""
        driver = self._drivers.get(backend.name)
        if driver is None:
            driver = AsyncDriver(self.http, backend, self.policy, self.redact)
            self._drivers[backend.name] = driver
        return driver

    async def aclose(self) -> None:
        """Close the connection pool and release backends."""
        self._close_backends()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- operations ------------------------------------------------------------

    async def launch(
        self,
        spec: SpecLike,
        backend: str | None = None,
        *,
        key: str | None = None,
        batch: str | None = None,
        row_key: str | None = None,
    ) -> RunStatus:
        """Launch one run. ``key`` makes the launch idempotent (reuse it on retry).

        With a ledger, the launch is recorded first and (``batch``, ``row_key``)
        identifies it: launching the same row again re-attaches to its run.
        """
        chosen, run_spec = self._prepare(spec, backend)
        driver = self.driver(chosen)
        if self.ledger is None:
            return await driver.run(chosen.launch(run_spec, key or new_key(), batch=batch))
        record = self._intent(chosen, run_spec, batch, row_key)
        return await driver.run(tracked_launch(chosen, run_spec, record, self.ledger))

    @overload
    async def launch_many(
        self,
        specs: Sequence[SpecLike],
        backend: str | None = ...,
        *,
        concurrency: int = ...,
        batch: str | None = ...,
        row_keys: Sequence[str] | None = ...,
        return_exceptions: Literal[False] = ...,
    ) -> list[RunStatus]: ...

    @overload
    async def launch_many(
        self,
        specs: Sequence[SpecLike],
        backend: str | None = ...,
        *,
        concurrency: int = ...,
        batch: str | None = ...,
        row_keys: Sequence[str] | None = ...,
        return_exceptions: Literal[True],
    ) -> list[RunStatus | RunhubError]: ...

    async def launch_many(
        self,
        specs: Sequence[SpecLike],
        backend: str | None = None,
        *,
        concurrency: int = 16,
        batch: str | None = None,
        row_keys: Sequence[str] | None = None,
        return_exceptions: bool = False,
    ) -> list[RunStatus] | list[RunStatus | RunhubError]:
        """Launch many runs with at most ``concurrency`` in flight.

        Every spec is validated before anything is launched. All runs share one
        ``batch`` id (so they can be watched cheaply). With a ledger, ``row_keys``
        name the rows: calling again with the same batch and rows launches only
        the rows not launched yet and re-attaches to the others. With
        ``return_exceptions``, failures are returned in place; otherwise the first
        failure is raised after every launch has finished (none is abandoned).
        """
        prepared = [self._prepare(spec, backend) for spec in specs]
        if row_keys is not None and len(row_keys) != len(prepared):
            raise ValueError("row_keys must match specs one to one")
        batch_id = batch or new_batch_id()
        rows = list(row_keys) if row_keys is not None else [str(i) for i in range(len(prepared))]
        gate = asyncio.Semaphore(max(1, concurrency))
        records: list[Launch | None] = [None] * len(prepared)
        if self.ledger is not None:
            for index, (chosen, run_spec) in enumerate(prepared):
                records[index] = self._intent(chosen, run_spec, batch_id, rows[index])

        async def one(index: int) -> RunStatus:
            chosen, run_spec = prepared[index]
            record = records[index]
            async with gate:
                if record is None or self.ledger is None:
                    op = chosen.launch(run_spec, new_key(), batch=batch_id)
                else:
                    op = tracked_launch(chosen, run_spec, record, self.ledger)
                return await self.driver(chosen).run(op)

        # Rows an interrupted earlier try may have launched are looked up one at a
        # time first, so two lookups can never adopt the same platform run.
        first = [i for i, r in enumerate(records) if r is not None and needs_recovery(r)]
        results: list[RunStatus | BaseException | None] = [None] * len(prepared)
        for index in first:
            try:
                results[index] = await one(index)
            except RunhubError as error:
                results[index] = error
        rest = [i for i in range(len(prepared)) if i not in set(first)]
        gathered = await asyncio.gather(*(one(i) for i in rest), return_exceptions=True)
        for index, outcome in zip(rest, gathered, strict=True):
            results[index] = outcome
        for item in results:
            if isinstance(item, BaseException) and not isinstance(item, RunhubError):
                raise item
        if return_exceptions:
            return [r for r in results if isinstance(r, RunStatus | RunhubError)]
        for item in results:
            if isinstance(item, RunhubError):
                raise item
        return [r for r in results if isinstance(r, RunStatus)]

    async def status(self, ref: RefLike) -> RunStatus:
        """The current status of one run."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        return await self.driver(backend).run(backend.status(run))

    async def statuses(self, refs: Sequence[RefLike]) -> list[RunStatus]:
        """Current statuses of many runs (batched per backend where possible)."""
        runs = [as_ref(r) for r in refs]
        results: list[RunStatus | None] = [None] * len(runs)
        for name, indexes in _group(runs).items():
            backend = self.backend(name)
            asked = [runs[i] for i in indexes]
            got = await self.driver(backend).run(backend.statuses(asked))
            _check_statuses(backend, asked, got)
            self._observe(got)
            for index, status in zip(indexes, got, strict=True):
                results[index] = status
        return [s for s in results if s is not None]

    async def wait(
        self, ref: RefLike, timeout: float | None = None, poll: PollSchedule | None = None
    ) -> RunStatus:
        """Poll until the run is terminal; ``WaitTimeout`` at the deadline."""
        run = as_ref(ref)
        last: RunStatus | None = None
        try:
            async with asyncio.timeout(timeout):
                async for status in self.watch([run], poll=poll):
                    last = status
                    if status.is_terminal:
                        return status
        except TimeoutError:
            state = last.state.value if last else "not yet seen"
            raise WaitTimeout(
                f"{run} still {state} after {timeout:g} s; left running", last=last
            ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def watch(
        self, refs: Sequence[RefLike], poll: PollSchedule | None = None
    ) -> AsyncIterator[RunStatus]:
        """Yield each run's status when first seen and whenever its state changes,
        until every run is terminal. Polls all runs of a backend with one
        ``statuses`` call per cycle (one request per batch page on ICA)."""
        pending = {as_ref(r) for r in refs}
        seen: dict[RunRef, tuple[str, str | None]] = {}
        delays = iter((poll or PollSchedule()).delays())
        while pending:
            current = await self.statuses(sorted(pending, key=str))
            for status in current:
                mark = (status.state.value, status.native)
                if seen.get(status.ref) != mark:
                    seen[status.ref] = mark
                    yield status
                if status.is_terminal:
                    pending.discard(status.ref)
            if pending:
                await asyncio.sleep(next(delays))

    async def cancel(self, ref: RefLike) -> RunStatus:
        """Ask the platform to stop the run."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        self._check_capability(backend, "cancel", "cancel runs")
        return await self.driver(backend).run(backend.cancel(run))

    async def outputs(self, ref: RefLike) -> list[Output]:
        """The run's result files."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        self._check_capability(backend, "outputs", "list outputs")
        return await self.driver(backend).run(backend.outputs(run))

    async def download_urls(self, ref: RefLike, outputs: Sequence[Output]) -> list[Output]:
        """The outputs with download URLs set."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        return await self.driver(backend).run(backend.download_urls(run, outputs))


# -- one-liners -------------------------------------------------------------------


def launch(spec: SpecLike, backend: str | None = None, **client_options: Any) -> RunStatus:
    """Launch one run with a short-lived client."""
    with Client(**client_options) as client:
        return client.launch(spec, backend)


def status(ref: RefLike, **client_options: Any) -> RunStatus:
    """The status of one run, with a short-lived client."""
    with Client(**client_options) as client:
        return client.status(ref)


def wait(ref: RefLike, timeout: float | None = None, **client_options: Any) -> RunStatus:
    """Wait for one run to end, with a short-lived client."""
    with Client(**client_options) as client:
        return client.wait(ref, timeout=timeout)
