"""``AsyncClient``: the asyncio client, for many runs at once.

``launch_many`` launches with bounded concurrency under one batch id; ``watch``
follows many runs with one ``statuses`` call per backend per poll cycle (one
request per page on ICA, one per capsule on Code Ocean).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from runhub.backend import Backend, Operation, Output, RunRef
from runhub.batchcheck import check_batch
from runhub.clientbase import (
    PlainDriver,
    PollSchedule,
    RefLike,
    SpecLike,
    _check_statuses,
    _ClientBase,
    _group,
    as_ref,
    new_batch_id,
    new_key,
)
from runhub.errors import AmbiguousLaunch, RunhubError, WaitTimeout, is_transient
from runhub.grouplaunch import launch_groups
from runhub.ledger import Launch, Ledger
from runhub.plugins import Registry
from runhub.policy import RetryPolicy
from runhub.rounds import Row, launch_rows
from runhub.spec import RunSpec
from runhub.state import RunStatus
from runhub.tracking import InGroup, Settling, needs_recovery, tracked_launch
from runhub.transfer.api import AsyncDataMethods

T = TypeVar("T")
log = logging.getLogger("runhub.watch")
#: Polls in a row that may fail (past the transport's retries) before a watch gives up.
WATCH_PATIENCE = 3

if TYPE_CHECKING:
    import httpx

    from runhub.chain.progress import ChainView
    from runhub.transport import AsyncDriver


class _AsyncPlain:
    """Runs a no-HTTP backend's operations in a worker thread, so a blocking
    operation (a local cancel waits for the process) never stalls the event loop."""

    def __init__(self, backend: Backend) -> None:
        self._plain = PlainDriver(backend)

    async def call(self, make: Callable[[], Operation[T]]) -> T:
        return await asyncio.to_thread(lambda: self._plain.run(make()))


class AsyncClient(_ClientBase, AsyncDataMethods):
    """The asyncio runhub client, for many runs at once (data methods:
    :class:`~runhub.transfer.api.AsyncDataMethods`).

    Every launch is recorded in ``ledger`` before it is sent: by default the
    user's ledger (``RUNHUB_HOME/ledger.sqlite``), ``ledger=False`` for none.
    """

    def __init__(
        self,
        *,
        profile: str | None = None,
        settings: Mapping[str, Mapping[str, Any]] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        policy: RetryPolicy | None = None,
        plugins: Registry | None = None,
        ledger: Ledger | Literal[False] | None = None,
        max_connections: int = 64,
    ) -> None:
        super().__init__(
            profile=profile, settings=settings, policy=policy, plugins=plugins, ledger=ledger
        )
        self._transport = transport
        self._max_connections = max_connections
        self._http: httpx.AsyncClient | None = None
        self._drivers: dict[str, AsyncDriver | _AsyncPlain] = {}

    @property
    def http(self) -> httpx.AsyncClient:
        """The pooled httpx client (created on first use)."""
        if self._http is None:
            import httpx

            from runhub.pool import ConnectionPool, proxy_mounts

            # runhub.pool: h11 over asyncio streams; httpcore's pool costs more CPU per
            # request than the request itself at high concurrency. Proxied URLs
            # (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY) go through httpx's own
            # proxy transports, mounted as httpx would mount them.
            if self._transport is not None:
                transport, mounts = self._transport, None
            else:
                transport = ConnectionPool(self._max_connections)
                mounts = proxy_mounts(self._max_connections)
            self._http = httpx.AsyncClient(
                transport=transport, mounts=mounts, timeout=self.policy.timeout()
            )
        return self._http

    def driver(self, backend: Backend) -> AsyncDriver | _AsyncPlain:
        """The driver for ``backend`` (one per backend, sharing the pool)."""
        driver = self._drivers.get(backend.name)
        if driver is None:
            if backend.capabilities.http:
                from runhub.transport import AsyncDriver

                driver = AsyncDriver(self.http, backend, self.policy, self.redact)
            else:
                driver = _AsyncPlain(backend)
            self._drivers[backend.name] = driver
        return driver

    async def _run(self, backend: Backend, make: Callable[[], Operation[T]]) -> T:
        """Build and drive one operation (no-HTTP backends: in a worker thread)."""
        driver = self.driver(backend)
        if isinstance(driver, _AsyncPlain):
            return await driver.call(make)
        return await driver.run(make())

    async def aclose(self) -> None:
        """Close the connection pool, release backends and the default ledger."""
        self._close_backends()
        self._close_engine()
        self._close_ledger()
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- operations ------------------------------------------------------------

    def validate(self, spec: SpecLike, backend: str | None = None) -> RunSpec:
        """Check ``spec`` offline (model + backend); returns the parsed spec."""
        return self._prepare(spec, backend)[1]

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

        With a ledger, the launch is recorded first and (``batch``, ``row_key``),
        or ``key``, identifies it: launching the same row again re-attaches to
        its run, and a row another process is launching is waited for.
        """
        chosen, run_spec = self._prepare(spec, backend)
        (run_spec,) = await self._staged(chosen, [run_spec])  # nothing launches on partial data
        ledger = self.ledger
        if ledger is None:
            launch_key = key or new_key()
            return await self._run(chosen, lambda: chosen.launch(run_spec, launch_key, batch=batch))
        (record,) = self._intents([(chosen, run_spec)], batch, [row_key], key)
        lease = self.lease
        return await self._settled(
            chosen, lambda: tracked_launch(chosen, run_spec, record, ledger, lease=lease)
        )

    async def _settled(self, backend: Backend, make: Callable[[], Operation[T]]) -> T:
        """``_run``, waiting out :class:`~runhub.tracking.Settling` (an interrupted
        launch the platform may still be creating, or a row another process
        holds) and trying again."""
        while True:
            try:
                return await self._run(backend, make)
            except Settling as settling:
                await asyncio.sleep(settling.wait)

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
        adopt: bool = ...,
        creation_batch: bool = ...,
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
        adopt: bool = ...,
        creation_batch: bool = ...,
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
        adopt: bool = False,
        creation_batch: bool = True,
    ) -> list[RunStatus] | list[RunStatus | RunhubError]:
        """Launch many runs with at most ``concurrency`` in flight.

        Every spec is validated before anything is launched. All runs share one
        ``batch`` id (so they can be watched cheaply). With a ledger, ``row_keys``
        name the rows: calling again with the same batch and rows launches only
        the rows not launched yet and re-attaches to the others, and several
        processes calling at once share the rows (each row is sent by one). A
        platform holding runs of the batch that the ledger does not know raises
        :class:`~runhub.errors.LedgerLost` before anything is sent; ``adopt``
        takes those runs for their rows instead. With ``return_exceptions``,
        failures are returned in place; otherwise the first failure is raised
        after every launch has finished (none is abandoned). A
        :class:`~runhub.errors.LedgerError` stops every launch at once.

        With a ledger, rows a backend can create together (``group_launch``: ICA's
        creation batches, docs/ica.md) are sent in groups, each row still exactly
        once (:mod:`runhub.grouplaunch`); ``creation_batch=False`` sends every row
        on its own.
        """
        prepared = [self._prepare(spec, backend) for spec in specs]
        if row_keys is not None:
            if len(row_keys) != len(prepared):
                raise ValueError("row_keys must match specs one to one")
            if len(set(row_keys)) != len(row_keys):
                raise ValueError("row_keys must be distinct")
        prepared = await self._staged_many(prepared)  # every upload done before any launch
        batch_id = batch or new_batch_id()
        rows = list(row_keys) if row_keys is not None else [str(i) for i in range(len(prepared))]
        ledger = self.ledger
        if ledger is None:
            plain = [
                Row(chosen, partial(chosen.launch, run_spec, new_key(), batch=batch_id))
                for chosen, run_spec in prepared
            ]
            results = await launch_rows(self._run, plain, concurrency)
        else:
            records = self._intents(prepared, batch_id, rows)
            records, blocked = await check_batch(
                self._run, ledger, prepared, records, batch_id, adopt=adopt
            )
            attached = await self._attached(records)
            todo = [i for i in range(len(records)) if i not in attached and i not in blocked]
            lease = self.lease
            grouped: dict[int, RunStatus | RunhubError] = {}
            # rows sent in a group before always finish in it: the platform may be
            # creating their runs still, which only the group's request can tell
            together = [i for i in todo if creation_batch or records[i].launch_group]
            if together:
                items = [(i, *prepared[i], records[i]) for i in together]
                grouped = await launch_groups(self._run, ledger, items, batch_id, lease)
                if grouped:  # the rows handed back were claimed meanwhile: read them again
                    todo = [i for i in todo if i not in grouped]
                    records = [ledger.get(r.key) or r for r in records]
            tracked = [
                Row(
                    prepared[i][0],
                    partial(tracked_launch, *prepared[i], records[i], ledger, lease=lease),
                    look_up_first=needs_recovery(records[i]),
                )
                for i in todo
            ]
            outcomes = await launch_rows(self._run, tracked, concurrency)
            launched = dict(zip(todo, outcomes, strict=True))
            launched.update(grouped)
            # rows another launch sent in a group meanwhile: finished with their group
            for _ in range(3):
                late = [i for i, r in launched.items() if isinstance(r, InGroup)]
                if not late:
                    break
                records = [ledger.get(r.key) or r for r in records]
                items = [(i, *prepared[i], records[i]) for i in late]
                launched.update(await launch_groups(self._run, ledger, items, batch_id, lease))
            for i, r in launched.items():
                if isinstance(r, InGroup):  # never sent here; the same call again resumes it
                    launched[i] = AmbiguousLaunch(
                        "this row was sent in a creation batch by another launch that did"
                        " not finish it; run the same batch again to resume it"
                    )
            results = [
                attached.get(i) or blocked.get(i) or launched[i] for i in range(len(records))
            ]
        if return_exceptions:
            return results
        for item in results:
            if isinstance(item, RunhubError):
                raise item
        return [r for r in results if isinstance(r, RunStatus)]

    async def _attached(self, records: Sequence[Launch]) -> dict[int, RunStatus]:
        """Rows launched before: their current statuses, asked together (one search
        per batch page on ICA, one listing per capsule on Code Ocean). If that fails,
        none: each row then re-attaches on its own and a bad run is its row's error."""
        known = [i for i, r in enumerate(records) if r.ref is not None]
        refs = [records[i].run_ref() for i in known]
        if not known:
            return {}
        try:
            found = await self.statuses([r for r in refs if r is not None])
        except RunhubError:
            return {}
        return dict(zip(known, found, strict=True))

    async def chain(
        self,
        chain: str | Path,
        samplesheet: str | Path | None = None,
        *,
        backend: str | None = None,
        chain_id: str | None = None,
        wait: bool = True,
        poll_interval: float | None = None,
        on_view: Callable[[ChainView], None] | None = None,
    ) -> ChainView:
        """Run the chain file ``chain`` (one chain per ``samplesheet`` row, with
        ``{column}`` placeholders as in batches) and, with ``wait``, follow it by
        polling until every row has its verdict (docs/chains.md).

        Everything is checked first (:class:`~runhub.chain.ChainError` lists every
        problem; nothing is launched). The chain id is derived from the chain's
        content and rows (or ``chain_id``), and every step's launch is a ledger
        row keyed by (chain, row, step): calling again resumes the chain and never
        launches a step twice. ``on_view`` is called with the chain after each pass.
        """
        from runhub.chain import runner

        checked = runner.prepare(self, chain, samplesheet, backend=backend, chain_id=chain_id)
        ledger = self.ledger
        if ledger is None:
            raise RunhubError("chains need a ledger (this client was made with ledger=False)")
        runner.record(ledger, checked)
        return await runner.follow(self, checked.id, wait=wait, poll=poll_interval, on_view=on_view)

    async def status(self, ref: RefLike) -> RunStatus:
        """The current status of one run."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        status = await self._run(backend, lambda: backend.status(run))
        self._observe([status])
        return status

    async def statuses(self, refs: Sequence[RefLike]) -> list[RunStatus]:
        """Current statuses of many runs (batched per backend where possible)."""
        runs = [as_ref(r) for r in refs]
        results: list[RunStatus | None] = [None] * len(runs)
        for name, indexes in _group(runs).items():
            backend = self.backend(name)
            asked = [runs[i] for i in indexes]
            got = await self._run(backend, partial(backend.statuses, asked))
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
        self,
        refs: Sequence[RefLike],
        poll: PollSchedule | None = None,
        *,
        fresh: float | None = None,
    ) -> AsyncIterator[RunStatus]:
        """Yield each run's status when first seen and whenever its state changes,
        until every run is terminal. Polls all runs of a backend with one
        ``statuses`` call per cycle (one request per batch page on ICA).

        ``fresh``: a run whose state the ledger recorded less than that many seconds
        ago (an events consumer writes them) is taken from the ledger, not polled
        (:mod:`runhub.freshness`): with events flowing, only the safety-net polls are left.
        """
        import time

        from runhub.freshness import recorded

        pending = {as_ref(r) for r in refs}
        seen: dict[RunRef, tuple[str, str | None]] = {}
        delays = iter((poll or PollSchedule()).delays())
        failed = 0
        ledger = self.ledger if fresh else None
        while pending:
            asked = sorted(pending, key=str)
            known: list[RunStatus] = []
            if ledger is not None and fresh:
                known, asked = recorded(ledger, asked, fresh, time.time())
            try:
                current = known + (await self.statuses(asked) if asked else [])
            except RunhubError as error:
                if not is_transient(error):
                    raise
                # One poll that failed past the transport's retries says nothing
                # about the runs: poll again, and give up only on a platform that
                # keeps failing (a dead one fails fast, see RetryPolicy.silence_limit).
                failed += 1
                if failed >= WATCH_PATIENCE:
                    raise
                log.warning("polling %d run(s) failed (%s); polling again", len(pending), error)
                await asyncio.sleep(next(delays))
                continue
            failed = 0
            for status in current:
                mark = (status.state.value, status.native)
                if seen.get(status.ref) != mark:
                    seen[status.ref] = mark
                    yield status
                if status.is_terminal:
                    pending.discard(status.ref)
            del current  # not held through the next poll: 10,000 statuses are ~10 MB
            if pending:
                await asyncio.sleep(next(delays))

    async def cancel(self, ref: RefLike) -> RunStatus:
        """Ask the platform to stop the run."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        self._check_capability(backend, "cancel", "cancel runs")
        status = await self._run(backend, lambda: backend.cancel(run))
        self._observe([status])  # a cancelled (Code Ocean: deleted) run stays known as such
        return status

    async def outputs(self, ref: RefLike) -> list[Output]:
        """The run's result files."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        self._check_capability(backend, "outputs", "list outputs")
        return await self._run(backend, lambda: backend.outputs(run))

    async def download_urls(self, ref: RefLike, outputs: Sequence[Output]) -> list[Output]:
        """The outputs with download URLs set."""
        run = as_ref(ref)
        backend = self.backend(run.backend)
        return await self._run(backend, lambda: backend.download_urls(run, outputs))
