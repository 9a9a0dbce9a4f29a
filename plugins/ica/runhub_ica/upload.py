"""ICA's data operations for runhub's transfer engine (a ``DataStore``), as exchanges.

Every call and field below is the official spec's (``ica-v2-openapi.yaml``):

- content lookup: ``GET /api/projects/{p}/data`` (``getProjectDataList``) filtered by
  ``technicalTag`` (``technicalTagMatchMode=EXACT``), ``status=AVAILABLE`` and
  ``type=FILE``; runhub's tag is ``runhub-sha256:<hex>`` and the size
  (``fileSizeInBytes``) is compared client-side (the list cannot filter on it);
- small files: ``data:createFileWithUploadUrl`` (``CreateFileAndUploadUrl``) and
  ``data/{id}:createUploadUrl`` (``Upload``), which "can create both new files and
  overwrite files in status 'partial'"; the bytes go by one PUT;
- large files: ``data:createFileWithTemporaryCredentials`` and
  ``data/{id}:createTemporaryCredentials`` (``TempCredentials.awsTempCredentials``:
  bucket, objectPrefix, keys, session token; "expire after 36 hours");
- status: ``GET data/{id}`` (``getProjectData``, ``DataDetails.status`` PARTIAL until
  the platform has the whole object, then AVAILABLE);
- sealing: ``PUT data/{id}`` (``updateProjectData``: "Fields which can be updated for
  files: … data.tags") with the technical tag added;
- downloads: ``data:createDownloadUrls``; folder credentials for the user's own tools:
  ``data/{id}:createTemporaryCredentials`` (``credentialsFormat: RCLONE`` for rclone).

Where the spec is silent, runhub copes with every reading (docs/data.md): the
``objectPrefix`` of a file's credentials may be the object's key or its folder; the
``hash`` of ``createFileWithUploadUrl`` (an "expected md5", hex or base64 unsaid) is
not sent — the PUT carries ``Content-MD5`` and the object's MD5 ETag is compared
after the upload instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from runhub.backend import Exchange, request, response_json
from runhub.errors import NotFound, PlatformError, SpecError
from runhub.spec import RunSpec
from runhub.transfer import (
    CREDENTIALS_LIFETIME,
    FolderCredentials,
    LocalFile,
    Location,
    PutTarget,
    RemoteFile,
    S3Credentials,
    S3Target,
    Upload,
)
from runhub_ica.auth import Credentials
from runhub_ica.datapaths import DataItem
from runhub_ica.lookups import Lookups
from runhub_ica.names import is_data_id
from runhub_ica.settings import IcaSettings
from runhub_ica.translate import V3
from runhub_ica.wire import get, post

T = TypeVar("T")
Authed = Callable[[Callable[[], Exchange[T]]], Exchange[T]]

CONTENT_TAG = "runhub-sha256:"
#: boto3 itself is on PyPI; runhub-ica is installed from a clone (no index serves it).
S3_INSTALL = "pip install boto3 (from a clone of runhub: pip install './plugins/ica[s3]')"
_PAGE = 1000
_URL_CHUNK = 100


def content_tag(sha256: str) -> str:
    """The technical tag that records a file's content address."""
    return CONTENT_TAG + sha256


def remote_file(entry: Any) -> RemoteFile:
    """A ``ProjectData`` (or bare ``Data``) as a RemoteFile."""
    data = entry.get("data", entry) if isinstance(entry, dict) else {}
    if not isinstance(data, dict) or "id" not in data:
        raise PlatformError(f"ICA answered with data without an id: {str(entry)[:120]}")
    details = data.get("details") or {}
    tags = (details.get("tags") or {}).get("technicalTags") or []
    sha = next(
        (t[len(CONTENT_TAG) :] for t in tags if isinstance(t, str) and t.startswith(CONTENT_TAG)),
        None,
    )
    status = details.get("status")
    folder = details.get("dataType") == "FOLDER"
    size = details.get("fileSizeInBytes")
    # details.path is the item's own path (as observed) or its parent's (the spec's
    # wording): runhub_ica.datapaths reads both.
    path = DataItem.full_path_of(data) or ""
    if folder and path and not path.endswith("/"):
        path += "/"
    return RemoteFile(
        id=str(data["id"]),
        path=path,
        kind="folder" if folder else "file",
        size=size if isinstance(size, int) else None,
        status=status if isinstance(status, str) else None,
        ready=status == "AVAILABLE",
        sha256=sha,
        etag=details.get("objectETag") or None,
        scope=str(entry.get("projectId") or details.get("owningProjectId") or "")
        if isinstance(entry, dict)
        else "",
    )


def object_key(prefix: str, name: str) -> str:
    """The S3 key of a file from its credentials' ``objectPrefix``: the spec calls it
    "the S3 object prefix these temporary credentials will give access to", which
    for one file may be the key itself or the folder holding it."""
    if prefix.endswith("/") or not prefix:
        return prefix + name
    return prefix


def s3_credentials(body: Any, asked_at: float) -> S3Credentials:
    """``TempCredentials.awsTempCredentials`` as S3Credentials (36 h from ``asked_at``)."""
    aws = body.get("awsTempCredentials") if isinstance(body, dict) else None
    if not isinstance(aws, dict) or not aws.get("bucket"):
        raise PlatformError("ICA gave temporary credentials without AWS credentials")
    sse = aws.get("serverSideEncryptionAlgorithm")
    sse = str(sse).lower() if sse else None
    if sse == "aes256":
        sse = "AES256"  # S3's spelling; "AWS:KMS" (the spec's example) is aws:kms
    return S3Credentials(
        access_key=str(aws["accessKey"]),
        secret_key=str(aws["secretKey"]),
        session_token=aws.get("sessionToken") or None,
        region=str(aws.get("region") or ""),
        bucket=str(aws["bucket"]),
        prefix=str(aws.get("objectPrefix") or ""),
        expires_at=asked_at + CREDENTIALS_LIFETIME,
        sse=sse,
        sse_kms_key=aws.get("serverSideEncryptionKey") or None,
    )


class IcaData:
    """The ``ica`` backend's DataStore (see the module docstring)."""

    s3_install = S3_INSTALL

    def __init__(
        self, settings: IcaSettings, creds: Credentials, lookups: Lookups, authed: Authed[Any]
    ) -> None:
        self.settings = settings
        self.creds = creds
        self.lookups = lookups
        self._authed = authed
        self.multipart_threshold = settings.multipart_threshold
        self.part_size = settings.part_size
        self.part_concurrency = settings.part_concurrency

    # -- offline -----------------------------------------------------------------

    def staging(self, spec: RunSpec | None) -> Location:
        options = spec.backend_options("ica") if spec is not None else {}
        project = self.settings.project(options.get("project"))
        return Location("ica", project, self.settings.staging_folder)

    def location(self, text: str) -> Location:
        path = text.strip()
        scope = None
        for scheme in ("ica://", "icav2://"):
            if path.startswith(scheme):
                scope, _, rest = path[len(scheme) :].partition("/")
                path = "/" + rest
        if not is_data_id(path) and not path.startswith("/"):
            raise SpecError(
                f"{text!r} is not an ICA path or data id",
                hint="write ica:/folder/ (a project path), ica:fil.… or ica:ica://<project>/path",
            )
        return Location("ica", self.settings.project(scope), path)

    # -- lookups -----------------------------------------------------------------

    def _base(self, where: Location) -> str:
        return f"/api/projects/{where.scope}"

    def _find(self, where: Location, item: LocalFile) -> Exchange[RemoteFile | None]:
        resp = yield get(
            self.creds,
            f"{self._base(where)}/data",
            V3,
            "find data by checksum",
            technicalTag=[content_tag(item.sha256)],
            technicalTagMatchMode="EXACT",
            status=["AVAILABLE"],
            type="FILE",
            pageSize="25",
        )
        for entry in response_json(resp).get("items", []):
            found = remote_file(entry)
            if found.ready and found.size == item.size and found.sha256 == item.sha256:
                return found
        return None

    def _lookup(self, where: Location, path: str) -> Exchange[RemoteFile | None]:
        bare = path.rstrip("/") or "/"
        wanted = [path] if path.endswith("/") else [bare, bare + "/"]
        resp = yield get(
            self.creds,
            f"{self._base(where)}/data",
            V3,
            "find data by path",
            filePath=wanted,
            filePathMatchMode="FULL_CASE_INSENSITIVE",
        )
        for entry in response_json(resp).get("items", []):
            found = remote_file(entry)
            if found.path in wanted:
                return found
        return None

    def _resolve(self, where: Location) -> Exchange[RemoteFile]:
        if is_data_id(where.path):
            return (yield from self._get(where.scope, where.path))
        found = yield from self._lookup(where, where.path)
        if found is None:
            raise NotFound(
                f"no file or folder at {where.path!r} in ICA project {where.scope} "
                "(paths match exactly, case included)"
            )
        return found

    def _get(self, project: str, data_id: str) -> Exchange[RemoteFile]:
        resp = yield get(self.creds, f"/api/projects/{project}/data/{data_id}", V3, "get data")
        return remote_file(response_json(resp))

    def _refresh(self, remote: RemoteFile) -> Exchange[RemoteFile]:
        return (yield from self._get(remote.scope or self.settings.project(), remote.id))

    # -- uploads -----------------------------------------------------------------

    def _create(
        self, where: Location, path: str, item: LocalFile, *, multipart: bool, key: str
    ) -> Exchange[Upload]:
        folder, _, name = path.rpartition("/")
        body = {"name": name, "folderPath": folder + "/"}
        asked = time.time()
        if multipart:
            resp = yield post(
                self.creds,
                f"{self._base(where)}/data:createFileWithTemporaryCredentials",
                V3,
                f"create {name} with temporary credentials",
                body,
                extra={"Idempotency-Key": key},
            )
            answer = response_json(resp)
            remote = remote_file(answer)
            creds = s3_credentials(answer.get("tempCredentials"), asked)
            return Upload(remote, S3Target(creds, object_key(creds.prefix, name)))
        resp = yield post(
            self.creds,
            f"{self._base(where)}/data:createFileWithUploadUrl",
            V3,
            f"create {name} with an upload URL",
            body,
            extra={"Idempotency-Key": key},
        )
        answer = response_json(resp)
        return Upload(remote_file(answer), PutTarget(str(answer["uploadUrl"])))

    def _reopen(self, remote: RemoteFile, item: LocalFile, *, multipart: bool) -> Exchange[Upload]:
        project = remote.scope or self.settings.project()
        if multipart:
            creds = yield from self._temporary(project, remote.id, {})
            return Upload(remote, S3Target(creds, object_key(creds.prefix, remote.name)))
        resp = yield post(
            self.creds,
            f"/api/projects/{project}/data/{remote.id}:createUploadUrl",
            V3,
            f"new upload URL for {remote.name}",
            idempotent=True,
        )
        return Upload(remote, PutTarget(str(response_json(resp)["url"])))

    def _temporary(
        self, project: str, data_id: str, body: dict[str, Any]
    ) -> Exchange[S3Credentials]:
        asked = time.time()
        resp = yield post(
            self.creds,
            f"/api/projects/{project}/data/{data_id}:createTemporaryCredentials",
            V3,
            "temporary credentials",
            body,
            idempotent=True,
        )
        return s3_credentials(response_json(resp), asked)

    def _renew(self, remote: RemoteFile) -> Exchange[S3Credentials]:
        return (yield from self._temporary(remote.scope or self.settings.project(), remote.id, {}))

    def _seal(self, remote: RemoteFile, item: LocalFile) -> Exchange[RemoteFile]:
        project = remote.scope or self.settings.project()
        url = f"/api/projects/{project}/data/{remote.id}"
        resp = yield get(self.creds, url, V3, "get data before tagging")
        body = response_json(resp)
        details = body.get("data", {}).get("details", {})
        tags = details.setdefault("tags", {})
        technical = [
            t for t in tags.get("technicalTags") or [] if not str(t).startswith(CONTENT_TAG)
        ]
        tags["technicalTags"] = [*technical, content_tag(item.sha256)]
        auth, secrets = self.creds.headers()
        headers = {**auth, "Accept": V3, "Content-Type": V3}
        if resp.headers.get("ETag"):
            headers["If-Match"] = resp.headers["ETag"]
        updated = yield request(
            "PUT",
            self.settings.api_base + url,
            json_body=body,
            headers=headers,
            purpose=f"tag {remote.name} with its checksum",
            secrets=secrets,
        )
        return remote_file(response_json(updated))

    # -- listing and downloads -----------------------------------------------------

    def _listing(self, where: Location, *, recursive: bool) -> Exchange[list[RemoteFile]]:
        folder = where.path if where.path.endswith("/") else where.path + "/"
        params: dict[str, Any] = {"pageSize": str(_PAGE)}
        if recursive:
            params["filePath"] = [folder]  # the default mode is a prefix match
        else:
            params["parentFolderPath"] = folder
        found: list[RemoteFile] = []
        token = None
        while True:
            if token:
                params["pageToken"] = token
            resp = yield get(self.creds, f"{self._base(where)}/data", V3, "list data", **params)
            page = response_json(resp)
            found.extend(remote_file(e) for e in page.get("items", []))
            token = page.get("nextPageToken") or None
            if not token:
                break
        return [f for f in found if f.path != folder]

    def _download_urls(
        self, where: Location, files: Sequence[RemoteFile]
    ) -> Exchange[list[str | None]]:
        urls: dict[str, str] = {}
        ids = [f.id for f in files if f.kind == "file"]
        for start in range(0, len(ids), _URL_CHUNK):
            resp = yield post(
                self.creds,
                f"{self._base(where)}/data:createDownloadUrls",
                V3,
                "create download urls",
                {"dataIds": ids[start : start + _URL_CHUNK]},
                read_only=True,
            )
            for entry in response_json(resp).get("items", []):
                if isinstance(entry, dict) and entry.get("url"):
                    urls[str(entry.get("dataId"))] = str(entry["url"])
        return [urls.get(f.id) for f in files]

    def _credentials(self, where: Location, *, read_only: bool) -> Exchange[FolderCredentials]:
        target = yield from self._resolve(where)
        asked = time.time()
        body: dict[str, Any] = {"readOnlyCredentials": True} if read_only else {}
        aws = yield from self._temporary(where.scope, target.id, body)
        resp = yield post(
            self.creds,
            f"/api/projects/{where.scope}/data/{target.id}:createTemporaryCredentials",
            V3,
            "temporary credentials for rclone",
            {**body, "credentialsFormat": "RCLONE"},
            idempotent=True,
        )
        rclone = response_json(resp).get("rcloneTempCredentials") or {}
        expiry = _epoch(rclone.get("expirationTime")) or asked + CREDENTIALS_LIFETIME
        return FolderCredentials(
            location=target.path,
            s3=aws,
            rclone={str(k): str(v) for k, v in (rclone.get("config") or {}).items()},
            rclone_prefix=rclone.get("filePathPrefix"),
            expires_at=expiry,
        )

    # -- the DataStore's exchanges: credentials at hand, the project resolved ----------

    def _on(self, where: Location, make: Callable[[Location], Exchange[T]]) -> Exchange[T]:
        def run() -> Exchange[T]:
            project = yield from self.lookups.project_id(where.scope, "options.ica.project")
            return (yield from make(Location(where.backend, project, where.path)))

        return self._authed(run)

    def find(self, where: Location, item: LocalFile) -> Exchange[RemoteFile | None]:
        return self._on(where, lambda w: self._find(w, item))

    def lookup(self, where: Location, path: str) -> Exchange[RemoteFile | None]:
        return self._on(where, lambda w: self._lookup(w, path))

    def resolve(self, where: Location) -> Exchange[RemoteFile]:
        return self._on(where, self._resolve)

    def create(
        self, where: Location, path: str, item: LocalFile, *, multipart: bool, key: str
    ) -> Exchange[Upload]:
        return self._on(where, lambda w: self._create(w, path, item, multipart=multipart, key=key))

    def listing(self, where: Location, *, recursive: bool) -> Exchange[list[RemoteFile]]:
        return self._on(where, lambda w: self._listing(w, recursive=recursive))

    def download_urls(
        self, where: Location, files: Sequence[RemoteFile]
    ) -> Exchange[list[str | None]]:
        return self._on(where, lambda w: self._download_urls(w, files))

    def credentials(self, where: Location, *, read_only: bool) -> Exchange[FolderCredentials]:
        return self._on(where, lambda w: self._credentials(w, read_only=read_only))

    def refresh(self, remote: RemoteFile) -> Exchange[RemoteFile]:
        return self._authed(lambda: self._refresh(remote))

    def reopen(self, remote: RemoteFile, item: LocalFile, *, multipart: bool) -> Exchange[Upload]:
        return self._authed(lambda: self._reopen(remote, item, multipart=multipart))

    def renew(self, remote: RemoteFile) -> Exchange[S3Credentials]:
        return self._authed(lambda: self._renew(remote))

    def seal(self, remote: RemoteFile, item: LocalFile) -> Exchange[RemoteFile]:
        return self._authed(lambda: self._seal(remote, item))


def _epoch(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
