"""The data methods of ``Client`` and ``AsyncClient``: thin twins over one set of flows.

Each method builds a flow (:mod:`runhub.transfer.ops`, :mod:`runhub.transfer.stage`)
and drives it: :class:`DataMethods` with the sync driver (blocking work in worker
threads), :class:`AsyncDataMethods` on the event loop (blocking work in
``asyncio.to_thread``). ``BACKEND:PATH`` texts name a backend and a place on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runhub.errors import RunhubError, SpecError
from runhub.transfer import ops
from runhub.transfer.flow import Flow, arun, run
from runhub.transfer.local import local_mounts
from runhub.transfer.model import CaptureRequest, DataAsset, FolderCredentials, RemoteFile

if TYPE_CHECKING:
    from runhub.backend import Backend, Operation
    from runhub.dryrun import DryRun, DryRunDriver
    from runhub.ref import RunRef
    from runhub.spec import RunSpec
    from runhub.transfer.engine import Engine
    from runhub.transfer.fetch import Fetched
    from runhub.transfer.progress import Progress
    from runhub.transfer.upload import Uploaded

#: Seconds between the first data-asset polls (the Code Ocean SDK's minimum).
ASSET_POLL = 5.0


def split_target(text: str) -> tuple[str, str]:
    """``BACKEND:PATH`` as (backend, path); SpecError naming the form otherwise."""
    backend, sep, rest = text.partition(":")
    if not sep or not backend or not rest or "/" in backend:
        raise SpecError(
            f"{text!r} does not name a backend and a path",
            hint="write BACKEND:PATH, e.g. ica:/runs/2026-11/ or ica:fil.0123…",
        )
    return backend, rest


def needs_staging(backend: Backend, specs: Sequence[RunSpec]) -> bool:
    """True if some spec has a local mount this backend uploads."""
    return backend.capabilities.stage and any(local_mounts(s) for s in specs)


def by_backend(prepared: Sequence[tuple[Backend, RunSpec]]) -> list[list[int]]:
    """Indexes of ``prepared`` grouped by backend (staged together, files once)."""
    groups: dict[str, list[int]] = {}
    for index, (chosen, _) in enumerate(prepared):
        groups.setdefault(chosen.name, []).append(index)
    return list(groups.values())


def _request(name: str, mount: str | None, tags: Sequence[str], path: str | None) -> CaptureRequest:
    return CaptureRequest(name=name, mount=mount, tags=tuple(tags), path=path)


class _DryStop(RunhubError):
    """Unwinds a dry run's staging at its first mutating request."""

    def __init__(self, dry: DryRun) -> None:
        super().__init__("dry run stopped")
        self.dry = dry


def dry_stage(
    driver: DryRunDriver, engine: Engine, backend: Backend, spec: RunSpec
) -> RunSpec | DryRun:
    """A dry run of staging: checksums and read-only lookups for real; the spec with
    every mount found on the platform, or the first request an upload would send."""
    from runhub.transfer.stage import stage_specs

    def call(chosen: Backend, op: Operation[Any]) -> Any:
        dry = driver.dry_run(op)
        if dry.request is not None:
            raise _DryStop(dry)
        return dry.description

    try:
        (staged,) = run(stage_specs(engine, backend, [spec]), call)
    except _DryStop as stop:
        return stop.dry
    return staged


class _EngineHolder:
    """The engine one client shares across its data operations."""

    _transport: Any
    policy: Any
    redact: Any
    #: Where transfers report progress (the CLI's bars); None: only counted.
    progress: Progress | None = None
    _engine: Engine | None = None

    def engine(self) -> Engine:
        """The transfer engine (created on first use)."""
        if self._engine is None:
            import httpx

            from runhub.transfer.engine import Engine

            transport = (
                self._transport if isinstance(self._transport, httpx.BaseTransport) else None
            )
            self._engine = Engine(
                transport=transport, policy=self.policy, redact=self.redact, progress=self.progress
            )
        return self._engine

    def _close_engine(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def backend(self, name: str) -> Backend:  # provided by _ClientBase
        raise NotImplementedError


class DataMethods(_EngineHolder):
    """Uploads, listings, downloads and captures for the sync ``Client``."""

    def driver(self, backend: Backend) -> Any:  # provided by Client
        raise NotImplementedError

    def _drive(self, flow: Flow[Any]) -> Any:
        def call(backend: Backend, op: Operation[Any]) -> Any:
            return self.driver(backend).run(op)

        return run(flow, call)

    def _staged(self, backend: Backend, specs: Sequence[RunSpec]) -> list[RunSpec]:
        """``specs`` with local mounts uploaded (nothing to do for most specs)."""
        if not needs_staging(backend, specs):
            return list(specs)
        from runhub.transfer.stage import stage_specs

        staged: list[RunSpec] = self._drive(stage_specs(self.engine(), backend, specs))
        return staged

    def stage(self, specs: Sequence[Any], backend: str | None = None) -> list[RunSpec]:
        """``specs`` (RunSpecs or files) with local mounts uploaded, each distinct file
        once; launching them later uploads nothing. Specs are checked first."""
        prepared = [self._prepare(s, backend) for s in specs]  # type: ignore[attr-defined]
        out = [spec for _, spec in prepared]
        for indexes in by_backend(prepared):
            chosen = prepared[indexes[0]][0]
            staged = self._staged(chosen, [out[i] for i in indexes])
            for index, spec in zip(indexes, staged, strict=True):
                out[index] = spec
        return out

    def upload(self, sources: Sequence[str], dest: str) -> list[Uploaded]:
        """Upload local files/folders to ``BACKEND:PATH``; one outcome per file."""
        name, path = split_target(dest)
        done: list[Uploaded] = self._drive(
            ops.upload_paths(self.engine(), self.backend(name), sources, path)
        )
        return done

    def data_list(self, where: str, *, recursive: bool = False) -> list[RemoteFile]:
        """The file at ``BACKEND:PATH``, or the folder's contents."""
        name, path = split_target(where)
        found: list[RemoteFile] = self._drive(
            ops.list_data(self.backend(name), path, recursive=recursive)
        )
        return found

    def download(self, source: str, into: str | Path) -> list[Fetched]:
        """Download ``BACKEND:PATH_OR_ID`` into the folder ``into``, verified."""
        name, path = split_target(source)
        done: list[Fetched] = self._drive(
            ops.download(self.engine(), self.backend(name), path, Path(into))
        )
        return done

    def data_credentials(self, where: str, *, read_only: bool = False) -> FolderCredentials:
        """Temporary credentials for ``BACKEND:PATH`` (for the AWS CLI, rclone, …)."""
        name, path = split_target(where)
        creds: FolderCredentials = self._drive(
            ops.credentials(self.backend(name), path, read_only=read_only)
        )
        self.redact.add(creds.secrets())
        return creds

    def capture(
        self,
        ref: RunRef | str,
        name: str,
        *,
        mount: str | None = None,
        tags: Sequence[str] = (),
        path: str | None = None,
        timeout: float | None = None,
        poll: float = ASSET_POLL,
    ) -> DataAsset:
        """A data asset from a finished run's results, once ready (idempotent: the
        same run captured again gives the same asset)."""
        from runhub.clientbase import as_ref

        run_ref = as_ref(ref)
        asset: DataAsset = self._drive(
            ops.capture(
                self.backend(run_ref.backend),
                run_ref,
                _request(name, mount, tags, path),
                timeout=timeout,
                poll=poll,
            )
        )
        return asset


class AsyncDataMethods(_EngineHolder):
    """The same operations for ``AsyncClient``."""

    async def _run(self, backend: Backend, make: Any) -> Any:  # provided by AsyncClient
        raise NotImplementedError

    async def _drive(self, flow: Flow[Any]) -> Any:
        async def call(backend: Backend, op: Operation[Any]) -> Any:
            return await self._run(backend, lambda: op)

        return await arun(flow, call)

    async def _staged(self, backend: Backend, specs: Sequence[RunSpec]) -> list[RunSpec]:
        """``specs`` with local mounts uploaded (nothing to do for most specs)."""
        if not needs_staging(backend, specs):
            return list(specs)
        from runhub.transfer.stage import stage_specs

        staged: list[RunSpec] = await self._drive(stage_specs(self.engine(), backend, specs))
        return staged

    async def _staged_many(
        self, prepared: list[tuple[Backend, RunSpec]]
    ) -> list[tuple[Backend, RunSpec]]:
        """Each distinct local file of a batch uploaded once (per backend)."""
        done = list(prepared)
        for indexes in by_backend(prepared):
            chosen = prepared[indexes[0]][0]
            staged = await self._staged(chosen, [prepared[i][1] for i in indexes])
            for index, spec in zip(indexes, staged, strict=True):
                done[index] = (chosen, spec)
        return done

    async def stage(self, specs: Sequence[Any], backend: str | None = None) -> list[RunSpec]:
        """``specs`` with local mounts uploaded, each distinct file once, in parallel;
        launching them later uploads nothing. Every spec is checked first."""
        prepared = [self._prepare(s, backend) for s in specs]  # type: ignore[attr-defined]
        staged = await self._staged_many(prepared)
        return [spec for _, spec in staged]

    async def upload(self, sources: Sequence[str], dest: str) -> list[Uploaded]:
        """Upload local files/folders to ``BACKEND:PATH``; one outcome per file."""
        name, path = split_target(dest)
        done: list[Uploaded] = await self._drive(
            ops.upload_paths(self.engine(), self.backend(name), sources, path)
        )
        return done

    async def data_list(self, where: str, *, recursive: bool = False) -> list[RemoteFile]:
        """The file at ``BACKEND:PATH``, or the folder's contents."""
        name, path = split_target(where)
        found: list[RemoteFile] = await self._drive(
            ops.list_data(self.backend(name), path, recursive=recursive)
        )
        return found

    async def download(self, source: str, into: str | Path) -> list[Fetched]:
        """Download ``BACKEND:PATH_OR_ID`` into the folder ``into``, verified."""
        name, path = split_target(source)
        done: list[Fetched] = await self._drive(
            ops.download(self.engine(), self.backend(name), path, Path(into))
        )
        return done

    async def data_credentials(self, where: str, *, read_only: bool = False) -> FolderCredentials:
        """Temporary credentials for ``BACKEND:PATH`` (for the AWS CLI, rclone, …)."""
        name, path = split_target(where)
        creds: FolderCredentials = await self._drive(
            ops.credentials(self.backend(name), path, read_only=read_only)
        )
        self.redact.add(creds.secrets())
        return creds

    async def capture(
        self,
        ref: RunRef | str,
        name: str,
        *,
        mount: str | None = None,
        tags: Sequence[str] = (),
        path: str | None = None,
        timeout: float | None = None,
        poll: float = ASSET_POLL,
    ) -> DataAsset:
        """A data asset from a finished run's results, once ready (idempotent)."""
        from runhub.clientbase import as_ref

        run_ref = as_ref(ref)
        asset: DataAsset = await self._drive(
            ops.capture(
                self.backend(run_ref.backend),
                run_ref,
                _request(name, mount, tags, path),
                timeout=timeout,
                poll=poll,
            )
        )
        return asset
