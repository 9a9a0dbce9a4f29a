"""S3 multipart uploads: parallel parts, resumable across processes (boto3's client).

Why not boto3's TransferManager, the AWS CLI's engine: it cannot continue a
multipart upload another process began, and a killed ``aws s3 cp`` starts again
from byte 0. So runhub schedules the parts itself on boto3's S3 *client* (which
keeps signing, endpoints — ``AWS_ENDPOINT_URL_S3`` included —, per-request retries
and per-part checksums exactly as the AWS SDK does them):

- the upload id is recorded in the transfer store as soon as S3 returns it, and
  each part as it completes;
- on resume S3's own part listing (``ListParts``) is the truth: a part S3 holds is
  never sent again, so at most the parts in flight at a kill are re-sent;
- parts are read straight from the file (a seekable window per part), never
  buffered whole: memory stays flat whatever the file size;
- temporary credentials are renewed before they expire (ICA's last 36 h) and once
  more when S3 refuses them mid-upload; a second refusal is an
  :class:`~runhub.errors.AuthError`.

Like s3transfer, parts carry botocore's default checksum (CRC32) and the completion
lists each part's checksum, so S3 verifies every byte it stores.

boto3 is an optional dependency (the ``s3`` extra): it is imported only when a file
is large enough to need it, on a background thread while the platform is asked
(:mod:`runhub.transfer.s3session`).
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runhub.errors import AuthError, ConfigError, PlatformError, RunhubError, TransportError
from runhub.policy import Redactor
from runhub.transfer.model import LocalFile, S3Credentials, S3Target
from runhub.transfer.progress import Progress
from runhub.transfer.s3session import ensure_boto3, s3_client
from runhub.transfer.store import TransferStore

log = logging.getLogger("runhub.transfer.s3")

MIB = 1 << 20
MIN_PART = 5 * MIB  # S3's smallest part (all but the last)
MAX_PARTS = 10_000  # S3's most parts per upload
#: Renew credentials this long before they expire.
RENEW_MARGIN = 15 * 60.0
#: S3 error codes that mean "these credentials are no good (any more)".
CREDENTIAL_ERRORS = frozenset(
    {
        "ExpiredToken",
        "InvalidAccessKeyId",
        "InvalidToken",
        "TokenRefreshRequired",
        "AccessDenied",
        "SignatureDoesNotMatch",
    }
)


def part_size_for(size: int, preferred: int) -> int:
    """A part size ≥ ``preferred`` (and S3's 5 MiB) that fits ``size`` in 10,000 parts."""
    need = -(-size // MAX_PARTS)
    chosen = max(preferred, MIN_PART, need)
    return -(-chosen // MIB) * MIB


class FileRange(io.RawIOBase):
    """A seekable, read-only window ``[start, start + length)`` of a file."""

    def __init__(self, path: Path, start: int, length: int) -> None:
        super().__init__()
        self._file = path.open("rb")
        self._start = start
        self._length = length
        self._pos = 0
        self._file.seek(start)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._length}[whence]
        self._pos = max(0, min(self._length, base + offset))
        self._file.seek(self._start + self._pos)
        return self._pos

    def read(self, size: int | None = -1) -> bytes:
        left = self._length - self._pos
        if size is None or size < 0 or size > left:
            size = left
        data = self._file.read(size)
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def __len__(self) -> int:
        return self._length

    def close(self) -> None:
        self._file.close()
        super().close()


@dataclass
class _Part:
    number: int
    start: int
    size: int


class MultipartUpload:
    """Send one file to ``target`` (see the module docstring for the guarantees)."""

    def __init__(
        self,
        item: LocalFile,
        target: S3Target,
        *,
        dest: str,
        store: TransferStore,
        progress: Progress,
        renew: Callable[[], S3Credentials],
        part_size: int,
        concurrency: int,
        install: str,
        redact: Redactor | None = None,
    ) -> None:
        self.item = item
        self.key = target.key
        self.dest = dest
        self.store = store
        self.progress = progress
        self._renew = renew
        self.preferred = part_size
        self.concurrency = max(1, concurrency)
        self.redact = redact or Redactor()
        ensure_boto3(install)
        self._lock = threading.Lock()
        self._generation = 0
        self._credentials = target.credentials
        self._client = self._make_client(target.credentials)
        self._stop = threading.Event()

    # -- clients and credentials -------------------------------------------------------

    def _make_client(self, creds: S3Credentials) -> Any:
        from botocore.config import Config

        self.redact.add(creds.secrets())
        config = Config(
            max_pool_connections=self.concurrency + 2,
            retries={"mode": "standard", "max_attempts": 5},
            connect_timeout=10,
            read_timeout=120,
        )
        try:
            return s3_client(
                aws_access_key_id=creds.access_key,
                aws_secret_access_key=creds.secret_key,
                aws_session_token=creds.session_token,
                region_name=creds.region or None,
                config=config,
            )
        except Exception as exc:  # botocore's config errors (a bad AWS profile, endpoint)
            raise ConfigError(f"cannot set up the S3 client: {self.redact(str(exc))}") from None

    def _current(self) -> tuple[Any, int]:
        with self._lock:
            if self._credentials.left() < RENEW_MARGIN:
                self._swap()
            return self._client, self._generation

    def _swap(self) -> None:
        creds = self._renew()
        self._credentials = creds
        self._client = self._make_client(creds)
        self._generation += 1
        log.info("renewed the temporary S3 credentials for %s", self.key)

    def _renewed_after(self, generation: int) -> Any:
        """A client with credentials newer than ``generation`` (renewing once)."""
        with self._lock:
            if self._generation == generation:
                self._swap()
            return self._client

    def _call(self, name: str, **params: Any) -> Any:
        client, generation = self._current()
        try:
            return getattr(client, name)(**params)
        except Exception as exc:
            if _code(exc) not in CREDENTIAL_ERRORS:
                raise
            log.info("S3 refused the credentials (%s); asking for fresh ones", _code(exc))
        client = self._renewed_after(generation)
        body = params.get("Body")
        if body is not None:
            body.seek(0)  # the refused attempt read it: the retry sends it whole
        return getattr(client, name)(**params)

    # -- the upload ----------------------------------------------------------------------

    def run(self) -> None:
        """Upload every part not yet on S3, then complete the upload."""
        try:
            self._run()
        except RunhubError:
            raise
        except Exception as exc:
            raise self._error(exc) from None

    def _run(self) -> None:
        bucket = self._credentials.bucket
        state = self.store.upload(self.dest, self.item)
        upload_id, part_size = state.upload_id, state.part_size
        held: dict[int, dict[str, Any]] = {}
        if upload_id and state.object_key == self.key and part_size:
            listed = self._listed(bucket, upload_id)
            if listed is None:  # the upload is gone (aborted or expired): start over
                upload_id = None
            else:
                held = listed
        if not upload_id or not part_size:
            part_size = part_size_for(self.item.size, self.preferred)
            upload_id = self._create(bucket)
            self.store.multipart(self.dest, upload_id, self.key, part_size)
            held = {}
        parts = self._plan(part_size)
        done = {
            p.number: held[p.number]
            for p in parts
            if p.number in held and held[p.number].get("Size") == p.size
        }
        self.progress.skipped(sum(p.size for p in parts if p.number in done))
        todo = [p for p in parts if p.number not in done]
        log.info(
            "%s: %d parts of %d MiB, %d already on S3",
            self.key,
            len(parts),
            part_size >> 20,
            len(done),
        )
        done.update(self._send(bucket, upload_id, todo, len(parts)))
        entries = [self._entry(n, done[n]) for n in sorted(done)]
        self._call(
            "complete_multipart_upload",
            Bucket=bucket,
            Key=self.key,
            UploadId=upload_id,
            MultipartUpload={"Parts": entries},
        )

    def _plan(self, part_size: int) -> list[_Part]:
        size = self.item.size
        count = max(1, -(-size // part_size))
        return [
            _Part(n + 1, n * part_size, min(part_size, size - n * part_size)) for n in range(count)
        ]

    def _checksum(self) -> str | None:
        config = self._client.meta.config
        if getattr(config, "request_checksum_calculation", "when_supported") != "when_supported":
            return None
        from botocore.httpchecksum import DEFAULT_CHECKSUM_ALGORITHM

        return str(DEFAULT_CHECKSUM_ALGORITHM).upper()

    def _create(self, bucket: str) -> str:
        params: dict[str, Any] = {"Bucket": bucket, "Key": self.key}
        creds = self._credentials
        if creds.sse:
            params["ServerSideEncryption"] = creds.sse
            if creds.sse == "aws:kms" and creds.sse_kms_key:
                params["SSEKMSKeyId"] = creds.sse_kms_key
        algorithm = self._checksum()
        if algorithm:
            params["ChecksumAlgorithm"] = algorithm
        answer = self._call("create_multipart_upload", **params)
        return str(answer["UploadId"])

    def _listed(self, bucket: str, upload_id: str) -> dict[int, dict[str, Any]] | None:
        found: dict[int, dict[str, Any]] = {}
        marker = 0
        while True:
            try:
                page = self._call(
                    "list_parts",
                    Bucket=bucket,
                    Key=self.key,
                    UploadId=upload_id,
                    PartNumberMarker=marker,
                )
            except Exception as exc:
                if _code(exc) in ("NoSuchUpload", "404"):
                    return None
                raise
            for part in page.get("Parts", []):
                found[int(part["PartNumber"])] = part
            if not page.get("IsTruncated"):
                return found
            marker = int(page["NextPartNumberMarker"])

    def _send(
        self, bucket: str, upload_id: str, todo: list[_Part], count: int
    ) -> dict[int, dict[str, Any]]:
        sent: dict[int, dict[str, Any]] = {}
        if not todo:
            return sent
        algorithm = self._checksum()
        pool = ThreadPoolExecutor(min(self.concurrency, len(todo)), "runhub-s3")

        def one(part: _Part) -> None:
            if self._stop.is_set():
                return
            log.debug("%s: part %d/%d started", self.key, part.number, count)
            params: dict[str, Any] = {
                "Bucket": bucket,
                "Key": self.key,
                "UploadId": upload_id,
                "PartNumber": part.number,
                "ContentLength": part.size,
            }
            if algorithm:
                params["ChecksumAlgorithm"] = algorithm
            with FileRange(self.item.path, part.start, part.size) as body:
                answer = self._call("upload_part", Body=body, **params)
            entry = {"ETag": answer["ETag"], "Size": part.size}
            for key, value in answer.items():
                if key.startswith("Checksum") and key != "ChecksumType":
                    entry[key] = value
            with self._lock:
                sent[part.number] = entry
            self.store.part_done(self.dest, part.number, str(answer["ETag"]), part.size)
            self.progress.sent(part.size)
            log.debug("%s: part %d/%d done", self.key, part.number, count)

        try:
            futures = [pool.submit(one, part) for part in todo]
            finished, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in finished:
                error = future.exception()
                if error is not None:
                    raise error
            for future in futures:
                future.result()
        finally:
            self._stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
        return sent

    @staticmethod
    def _entry(number: int, part: dict[str, Any]) -> dict[str, Any]:
        entry = {"PartNumber": number, "ETag": part["ETag"]}
        for key, value in part.items():
            if key.startswith("Checksum") and key != "ChecksumType":
                entry[key] = value
        return entry

    # -- errors ------------------------------------------------------------------------

    def _error(self, exc: Exception) -> RunhubError:
        code = _code(exc)
        what = self.redact(" ".join(str(exc).split()))
        where = f"S3 upload of {self.item.name} to s3://{self._credentials.bucket}/{self.key}"
        resume = "run the same command again to resume"
        if code in CREDENTIAL_ERRORS:
            return AuthError(
                f"{where}: S3 refused the temporary credentials ({code}), fresh ones too",
                status=403,
                code=code,
                hint="check the platform account's access to its storage, then " + resume,
            )
        if code is not None:
            return PlatformError(f"{where}: {what}", code=code, hint=resume)
        return TransportError(f"{where}: {type(exc).__name__}: {what}", hint=resume)


def _code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None
