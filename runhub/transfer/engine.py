"""The transfer engine: moves bytes, and nothing else.

:class:`Engine` holds what byte transfers share within one client: the transfer
store, a plain HTTP client for presigned URLs (no platform credentials, the
client's own transport when it has one), the retry policy, the redactor and the
progress sink. Its methods block; flows run them as :class:`~runhub.transfer.flow.Work`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runhub.errors import SpecError
from runhub.policy import Redactor, RetryPolicy
from runhub.transfer.model import LocalFile, PutTarget, S3Credentials, S3Target
from runhub.transfer.progress import Progress, Tally
from runhub.transfer.store import TransferStore

if TYPE_CHECKING:
    import httpx

    from runhub.transport import SyncDriver

#: Files uploaded or downloaded at once.
FILES_AT_ONCE = 4


class Engine:
    """Byte transfers for one client (see the module docstring)."""

    def __init__(
        self,
        *,
        store: TransferStore | None = None,
        transport: httpx.BaseTransport | None = None,
        policy: RetryPolicy | None = None,
        redact: Redactor | None = None,
        progress: Progress | None = None,
        files_at_once: int = FILES_AT_ONCE,
    ) -> None:
        self._store = store
        self.transport = transport
        self.policy = policy or RetryPolicy()
        self.redact = redact or Redactor()
        self.tally = Tally()
        self.progress: Progress = progress or self.tally
        self.files_at_once = files_at_once
        self._http: httpx.Client | None = None
        self._driver: SyncDriver | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> TransferStore:
        """The transfer store (opened on first use)."""
        with self._lock:
            if self._store is None:
                self._store = TransferStore()
            return self._store

    def http(self) -> httpx.Client:
        """A client for presigned URLs: no credentials, generous read timeouts."""
        with self._lock:
            if self._http is None:
                import httpx

                timeout = httpx.Timeout(
                    connect=self.policy.connect_timeout,
                    read=max(self.policy.read_timeout, 300.0),
                    write=max(self.policy.write_timeout, 120.0),
                    pool=self.policy.pool_timeout,
                )
                self._http = httpx.Client(
                    transport=self.transport, timeout=timeout, follow_redirects=False
                )
            return self._http

    def driver(self) -> SyncDriver:
        """The transport's retry policy for presigned-URL requests."""
        client = self.http()
        with self._lock:
            if self._driver is None:
                from runhub.transfer.put import Storage
                from runhub.transport import SyncDriver

                self._driver = SyncDriver(client, Storage(), self.policy, self.redact)
            return self._driver

    def close(self) -> None:
        with self._lock:
            if self._http is not None:
                self._http.close()
                self._http = None
            if self._store is not None:
                self._store.close()
                self._store = None

    # -- uploads -------------------------------------------------------------------

    def put(self, item: LocalFile, target: PutTarget) -> None:
        """One PUT of the whole file (see :mod:`runhub.transfer.put`)."""
        from runhub.transfer.put import put_file

        unchanged(item)
        put_file(self.driver(), item, target, self.progress)

    def multipart(
        self,
        item: LocalFile,
        target: S3Target,
        *,
        dest: str,
        renew: Callable[[], S3Credentials],
        part_size: int,
        concurrency: int,
        install: str,
    ) -> None:
        """S3 multipart, resuming what ``dest``'s earlier attempts sent."""
        from runhub.transfer.s3 import MultipartUpload

        unchanged(item)
        MultipartUpload(
            item,
            target,
            dest=dest,
            store=self.store,
            progress=self.progress,
            renew=renew,
            part_size=part_size,
            concurrency=concurrency,
            install=install,
            redact=self.redact,
        ).run()
        unchanged(item)


def unchanged(item: LocalFile) -> None:
    """SpecError if the file changed since it was hashed (its checksum would lie)."""
    try:
        info = item.path.stat()
    except OSError as exc:
        raise SpecError(f"cannot read {item.path}: {exc.strerror}") from None
    if (info.st_size, info.st_mtime_ns) != (item.size, item.mtime_ns):
        raise SpecError(
            f"{item.path} changed while it was being uploaded",
            hint="run the same command again once the file is complete",
        )


def noop(*_: Any) -> None:
    return None
