"""``Client`` (sync) and the one-liners ``launch``, ``status`` and ``wait``.

The client holds one pooled httpx client (connection reuse), one backend instance
per backend name (so lookups are cached per client), and drives the backends'
exchanges through :mod:`runhub.transport`. ``AsyncClient`` lives in
:mod:`runhub.aio` and is re-exported here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from runhub.aio import AsyncClient
from runhub.backend import Backend, Output
from runhub.clientbase import (
    PlainDriver,
    PollSchedule,
    RefLike,
    SpecLike,
    _check_statuses,
    _ClientBase,
    _group,
    as_ref,
    as_spec,
    new_batch_id,
    new_key,
)
from runhub.errors import WaitTimeout
from runhub.ledger import Ledger
from runhub.plugins import Registry
from runhub.policy import RetryPolicy
from runhub.spec import RunSpec
from runhub.state import RunStatus
from runhub.tracking import Settling, tracked_launch
from runhub.transfer.api import DataMethods, dry_stage, needs_staging

if TYPE_CHECKING:
    import httpx

    from runhub.chain.progress import ChainView
    from runhub.dryrun import DryRun
    from runhub.transport import SyncDriver

__all__ = [
    "AsyncClient",
    "Client",
    "PollSchedule",
    "as_ref",
    "as_spec",
    "launch",
    "new_batch_id",
    "new_key",
    "status",
    "wait",
]


class Client(_ClientBase, DataMethods):
    """The synchronous runhub client.

    ``transport`` replaces the network (e.g. an emulator's in-process transport).
    Every launch is recorded in ``ledger`` before it is sent: by default the
    user's ledger (``RUNHUB_HOME/ledger.sqlite``), ``ledger=False`` for none.
    Use as a context manager, or call :meth:`close`. Local mounts of a spec are
    uploaded before its launch on backends that stage them (``runhub.transfer``);
    :class:`~runhub.transfer.api.DataMethods` adds uploads, downloads and captures.
    """

    def __init__(
        self,
        *,
        profile: str | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        transport: httpx.BaseTransport | None = None,
        policy: RetryPolicy | None = None,
        plugins: Registry | None = None,
        ledger: Ledger | Literal[False] | None = None,
    ) -> None:
        super().__init__(
            profile=profile, settings=settings, policy=policy, plugins=plugins, ledger=ledger
        )
        self._transport = transport
        self._http: httpx.Client | None = None
        self._drivers: dict[str, SyncDriver | PlainDriver] = {}

    @property
    def http(self) -> httpx.Client:
        """The pooled httpx client (created on first use)."""
        if self._http is None:
            import httpx

            try:  # httpx mounts the environment's proxies itself (no transport given)
                self._http = httpx.Client(transport=self._transport, timeout=self.policy.timeout())
            except ImportError:  # a SOCKS proxy in the environment, without socksio
                from runhub.pool import proxy_mounts

                proxy_mounts()  # raises the ConfigError that says what to install
                raise
        return self._http

    def driver(self, backend: Backend) -> SyncDriver | PlainDriver:
        """The driver for ``backend`` (one per backend, sharing the pool)."""
        driver = self._drivers.get(backend.name)
        if driver is None:
            if backend.capabilities.http:
                from runhub.transport import SyncDriver

                driver = SyncDriver(self.http, backend, self.policy, self.redact)
            else:
                driver = PlainDriver(backend)
            self._drivers[backend.name] = driver
        return driver

    def close(self) -> None:
        """Close the connection pool, release backends and the default ledger."""
        self._close_backends()
        self._close_engine()
        self._close_ledger()
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

        With a ledger, the launch is recorded first and (``batch``, ``row_key``),
        or ``key``, identifies it: launching the same row again re-attaches to
        its run, and a row another process is launching is waited for.
        """
        chosen, run_spec = self._prepare(spec, backend)
        (run_spec,) = self._staged(chosen, [run_spec])  # nothing launches on partial data
        driver = self.driver(chosen)
        ledger = self.ledger
        if ledger is None:
            return driver.run(chosen.launch(run_spec, key or new_key(), batch=batch))
        (record,) = self._intents([(chosen, run_spec)], batch, [row_key], key)
        lease = self.lease
        while True:
            try:
                return driver.run(tracked_launch(chosen, run_spec, record, ledger, lease=lease))
            except Settling as settling:  # a run that may still appear, or a row held elsewhere
                time.sleep(settling.wait)

    def chain(
        self,
        chain: str | Path,
        samplesheet: str | Path | None = None,
        *,
        backend: str | None = None,
        chain_id: str | None = None,
        wait: bool = True,
        poll_interval: float | None = None,
    ) -> ChainView:
        """:meth:`AsyncClient.chain`, run to its end here (an asyncio loop of its
        own, with this client's profile, settings, policy, plugins and ledger; an
        in-process ``transport`` is not carried over: it is a sync one)."""
        import asyncio

        async def go() -> ChainView:
            async with AsyncClient(
                profile=self.profile,
                settings=self._flags,
                policy=self.policy,
                plugins=self.plugins,
                ledger=self.ledger or False,
            ) as twin:
                return await twin.chain(
                    chain,
                    samplesheet,
                    backend=backend,
                    chain_id=chain_id,
                    wait=wait,
                    poll_interval=poll_interval,
                )

        return asyncio.run(go())

    def dry_run(self, spec: SpecLike, backend: str | None = None) -> DryRun:
        """Resolve everything a launch needs (read-only requests only) and return
        the request that *would* be sent, without sending it."""
        from runhub.dryrun import DryRun, DryRunDriver

        chosen, run_spec = self._prepare(spec, backend)
        if not chosen.capabilities.http:
            return DryRun([], None, chosen.describe_launch(run_spec))
        driver = DryRunDriver(self.http, chosen, self.policy, self.redact)
        if needs_staging(chosen, [run_spec]):  # local mounts: found, or the upload shown
            staged = dry_stage(driver, self.engine(), chosen, run_spec)
            if isinstance(staged, DryRun):
                return staged
            run_spec = staged
        return driver.dry_run(chosen.launch(run_spec, new_key()))

    def status(self, ref: RefLike) -> RunStatus:
        """The current status of one run."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        status = self.driver(backend).run(backend.status(run))
        self._observe([status])
        return status

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
        self,
        ref: RefLike,
        timeout: float | None = None,
        poll: PollSchedule | None = None,
        *,
        on_change: Callable[[RunStatus], object] | None = None,
    ) -> RunStatus:
        """Poll until the run is terminal; ``WaitTimeout`` at the deadline (the run
        is left alone). ``on_change`` is called with the first status seen and with
        every status whose state differs from the one before."""
        run = as_ref(ref)
        deadline = None if timeout is None else time.monotonic() + timeout
        seen: tuple[str, str | None] | None = None
        for delay in (poll or PollSchedule()).delays():
            status = self.status(run)
            mark = (status.state.value, status.native)
            if on_change is not None and mark != seen:
                on_change(status)
            seen = mark
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
        status = self.driver(backend).run(backend.cancel(run))
        self._observe([status])  # a cancelled (Code Ocean: deleted) run stays known as such
        return status

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
