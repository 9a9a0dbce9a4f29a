"""The emulated data endpoints runhub's transfers use, and the URLs they hand out.

Operations (official schemas, checked like every other endpoint):
``data:createFileWithUploadUrl``, ``data:createFileWithTemporaryCredentials``,
``data/{id}:createUploadUrl``, ``data/{id}:createTemporaryCredentials``,
``GET data/{id}`` (with an ``ETag``) and ``PUT data/{id}`` (tags; ``If-Match``), plus
the ``technicalTag``/``status``/``parentFolderPath`` filters of ``GET data``.

Bytes: without an S3 endpoint the emulator serves its own upload URLs
(``PUT /_emulator/uploads/<token>``, checking ``Content-MD5`` like S3); what was
uploaded is what its download URLs (``catalog.download``) serve. With one
(:meth:`Uploads.use_s3`, e.g. moto started by a test), upload and download URLs are
presigned S3 URLs and temporary credentials point at that bucket, as on ICA.

A new file is PARTIAL; it becomes AVAILABLE ``settle`` emulated seconds after its
object is complete (a served PUT, or the object appearing in S3), as ICA notices an
upload some time after it ends. ``createUploadUrl`` refuses files that are not
PARTIAL (the spec: it can "overwrite files in status 'partial'").
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
from libica.openapi.v3 import models as m

from runhub_ica.emulator import schema, seed
from runhub_ica.emulator.protocol import JSON, V3, Call, Problem, Route

if TYPE_CHECKING:
    from runhub_ica.emulator.app import IcaEmulator
    from runhub_ica.emulator.world import DataRec

UPLOADS = "/_emulator/uploads/"
#: Spec: "The returned credentials expire after 36 hours."
LIFETIME = 36 * 3600.0

schema.REQUESTS.update(
    {
        "data:createFileWithUploadUrl": m.CreateFileAndUploadUrl,
        "data:createFileWithTemporaryCredentials": m.CreateFileAndTemporaryCredentials,
        "data:createTemporaryCredentials": m.CreateTemporaryCredentials,
        "data:update": m.ProjectData,
    }
)
schema.RESPONSES.update(
    {
        "data:createFileWithUploadUrl": m.ProjectFileAndUploadUrl,
        "data:createFileWithTemporaryCredentials": m.ProjectDataAndTemporaryCredentials,
        "data:createUploadUrl": m.Upload,
        "data:createTemporaryCredentials": m.TempCredentials,
        "data:get": m.ProjectData,
    }
)


@dataclass
class S3Bucket:
    """The S3 endpoint temporary credentials and presigned URLs point at."""

    endpoint_url: str
    bucket: str
    region: str = "us-east-1"
    #: The emulator's own keys (to presign and to look objects up).
    access_key: str = "emulator-admin"
    secret_key: str = "emulator-admin-secret"
    #: ``objectPrefix`` of a file's credentials: ``file`` (the object's key) or
    #: ``folder`` (its folder) — the spec does not say which (docs/data.md).
    prefix_mode: str = "file"
    #: Issues (access key, secret key, session token); default: random ones
    #: (an S3 that checks no credentials accepts them).
    mint: Callable[[str], tuple[str, str, str]] | None = None


def _s3_error(status: int, code: str, message: str) -> httpx.Response:
    body = (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return httpx.Response(
        status, content=body.encode(), headers={"Content-Type": "application/xml"}
    )


class Uploads:
    """Upload state and handlers; one per emulator (``IcaEmulator.uploads``)."""

    def __init__(self, app: IcaEmulator) -> None:
        self.app = app
        self.world = app.world
        self.clock = app.clock
        self.s3: S3Bucket | None = None
        #: Emulated seconds between an object being complete and AVAILABLE.
        self.settle = 1.0
        self._tokens: dict[str, str] = {}
        self._blobs: dict[str, bytes] = {}
        self._ready_at: dict[str, float] = {}
        self._refusals: list[int] = []
        #: Data ids credentials were issued for, in order (tests count renewals).
        self.credentials_issued: list[str] = []
        #: Bytes received by the emulator's own upload URLs.
        self.bytes_received = 0
        self._lock = threading.RLock()
        self._client: Any = None

    # -- test controls -----------------------------------------------------------------

    def use_s3(self, bucket: S3Bucket) -> None:
        """Point upload URLs and temporary credentials at a real S3 API (moto)."""
        self.s3 = bucket
        self._client = None

    def refuse_uploads(self, *statuses: int) -> None:
        """The next PUTs to upload URLs answer these statuses (403, 500, …)."""
        with self._lock:
            self._refusals.extend(statuses)

    def s3_client(self) -> Any:
        assert self.s3 is not None
        if self._client is None:
            import boto3

            self._client = boto3.client(
                "s3",
                endpoint_url=self.s3.endpoint_url,
                aws_access_key_id=self.s3.access_key,
                aws_secret_access_key=self.s3.secret_key,
                region_name=self.s3.region,
            )
        return self._client

    def key_of(self, rec: DataRec) -> str:
        """The S3 key of a file or folder (folders end with ``/``)."""
        return f"{seed.TENANT_ID[:8]}/{rec.project}{rec.path}"

    # -- routes ------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        p = r"/api/projects/(?P<project>[^/:]+)"
        d = p + r"/data/(?P<data>[^/:]+)"

        def route(
            method: str,
            pattern: str,
            handler: Callable[[Call], httpx.Response],
            consumes: tuple[str, ...] | None,
            model: str | None = None,
            required: bool = True,
        ) -> Route:
            return Route(method, re.compile(pattern), handler, consumes, (V3,), model, required)

        return [
            route(
                "POST",
                p + r"/data:createFileWithUploadUrl",
                self._create_with_url,
                (V3, JSON),
                "data:createFileWithUploadUrl",
            ),
            route(
                "POST",
                p + r"/data:createFileWithTemporaryCredentials",
                self._create_with_credentials,
                (V3, JSON),
                "data:createFileWithTemporaryCredentials",
            ),
            route("POST", d + r":createUploadUrl", self._upload_url, None),
            route(
                "POST",
                d + r":createTemporaryCredentials",
                self._temporary,
                (V3, JSON),
                "data:createTemporaryCredentials",
                required=False,
            ),
            route("GET", d, self._get, None),
            route("PUT", d, self._update, (V3, JSON), "data:update"),
        ]

    # -- shared --------------------------------------------------------------------------

    def _rec(self, call: Call) -> DataRec:
        project = self.app._project(call)
        rec = self.world.data.get(call.groups["data"])
        if rec is None or rec.project != project:
            raise Problem(
                404, "ICA_EMU_NOT_FOUND", f"Data {call.groups['data']} not found in project"
            )
        self.settle_rec(rec)
        return rec

    def settle_rec(self, rec: DataRec) -> None:
        """PARTIAL -> AVAILABLE once the object has been complete for ``settle`` s."""
        if rec.status != "PARTIAL":
            return
        with self._lock:
            ready = self._ready_at.get(rec.id)
            if ready is None and self.s3 is not None and rec.id not in self._blobs:
                head = self._head(rec)
                if head is not None:
                    rec.size = int(head["ContentLength"])
                    rec.etag = str(head["ETag"]).strip('"')
                    ready = self._ready_at[rec.id] = self.clock.now() + self.settle
            if ready is not None and self.clock.now() >= ready:
                rec.status = "AVAILABLE"

    def _head(self, rec: DataRec) -> dict[str, Any] | None:
        try:
            answer: dict[str, Any] = self.s3_client().head_object(
                Bucket=self.s3.bucket if self.s3 else "", Key=self.key_of(rec)
            )
        except Exception:  # botocore's 404 (no such key yet)
            return None
        return answer

    def keep(self, rec: DataRec, params: httpx.QueryParams) -> bool:
        """The ``GET data`` filters this module adds (tags, status, parent folder)."""
        self.settle_rec(rec)
        tags = params.get_list("technicalTag")
        if tags:
            mode = params.get("technicalTagMatchMode", "EXACT")
            have = rec.technical_tags
            if mode == "EXACT" and not any(t in have for t in tags):
                return False
            if mode == "FUZZY" and not any(t.lower() in h.lower() for t in tags for h in have):
                return False
            if mode == "EXCLUDE" and any(t in have for t in tags):
                return False
        statuses = params.get_list("status")
        if statuses and rec.status not in statuses:
            return False
        parent = params.get("parentFolderPath")
        if parent is not None:
            if not (parent.startswith("/") and parent.endswith("/")):
                raise Problem(
                    400, "ICA_EMU_VALIDATION", "parentFolderPath must start and end with '/'"
                )
            if rec.path == parent or not rec.path.startswith(parent):
                return False
            rest = rec.path[len(parent) :].rstrip("/")
            if "/" in rest:
                return False
        return True

    def _body(self, rec: DataRec) -> dict[str, Any]:
        return self.world.data_body(rec, parent_paths=self.app.variance.parent_paths)

    def _answer(self, status: int, name: str, body: Any, etag: str | None = None) -> httpx.Response:
        response = self.app._json(status, name, body)
        if etag:
            response.headers["ETag"] = etag
        return response

    def _etag(self, rec: DataRec) -> str:
        text = json.dumps(self._body(rec), sort_keys=True)
        return 'W/"' + hashlib.sha256(text.encode()).hexdigest()[:16] + '"'

    # -- creating files ------------------------------------------------------------------

    def _new_file(self, call: Call) -> DataRec:
        project = self.app._project(call)
        body = call.body
        name = body["name"]
        if not name or "/" in name:
            raise Problem(400, "ICA_EMU_VALIDATION", f"{name!r} is not a file name", {"name": name})
        folder = body.get("folderPath")
        if body.get("folderId"):
            parent = self.world.data.get(body["folderId"])
            if parent is None or parent.project != project or not parent.folder:
                raise Problem(404, "ICA_EMU_NOT_FOUND", f"Folder {body['folderId']} not found")
            folder = parent.path
        folder = folder or "/"
        if not (folder.startswith("/") and folder.endswith("/")):
            raise Problem(
                400,
                "ICA_EMU_VALIDATION",
                "folderPath must start and end with '/'",
                {"folderPath": folder},
            )
        path = folder + name
        taken = {r.path for r in self.world.data.values() if r.project == project}
        if path in taken or path + "/" in taken:
            raise Problem(409, "ICA_EMU_DATA_EXISTS", f"{path} already exists in the project")
        parts = folder.strip("/").split("/") if folder != "/" else []
        for depth in range(1, len(parts) + 1):  # "automatically created" (spec)
            ancestor = "/" + "/".join(parts[:depth]) + "/"
            if ancestor not in taken:
                self.world.add_data(project, ancestor, None)
        rec = self.world.add_data(project, path, None)
        rec.status, rec.etag = "PARTIAL", None
        return rec

    def _create_with_url(self, call: Call) -> httpx.Response:
        rec = self._new_file(call)
        answer = {**self._body(rec), "uploadUrl": self._url_for(call, rec)}
        return self._answer(201, "data:createFileWithUploadUrl", answer)

    def _create_with_credentials(self, call: Call) -> httpx.Response:
        rec = self._new_file(call)
        options = call.body.get("temporaryCredentials") or {}
        answer = {**self._body(rec), "tempCredentials": self._credentials(rec, options)}
        return self._answer(201, "data:createFileWithTemporaryCredentials", answer)

    def _upload_url(self, call: Call) -> httpx.Response:
        rec = self._rec(call)
        if rec.folder or rec.status != "PARTIAL":
            raise Problem(
                400,
                "ICA_EMU_DATA_NOT_PARTIAL",
                f"{rec.path} is {'a folder' if rec.folder else rec.status}; upload URLs are for"
                " new files and files in status 'partial'",
            )
        with self._lock:
            self._ready_at.pop(rec.id, None)
            self._blobs.pop(rec.id, None)
        return self._answer(200, "data:createUploadUrl", {"url": self._url_for(call, rec)})

    def _url_for(self, call: Call, rec: DataRec) -> str:
        if self.s3 is not None:
            return str(
                self.s3_client().generate_presigned_url(
                    "put_object",
                    Params={"Bucket": self.s3.bucket, "Key": self.key_of(rec)},
                    ExpiresIn=3600,
                )
            )
        token = secrets.token_hex(12)
        with self._lock:
            self._tokens[token] = rec.id
        origin = f"{call.request.url.scheme}://{call.request.url.netloc.decode()}"
        return f"{origin}{UPLOADS}{token}?X-Amz-Signature={secrets.token_hex(16)}"

    # -- temporary credentials -------------------------------------------------------------

    def _temporary(self, call: Call) -> httpx.Response:
        rec = self._rec(call)
        return self._answer(
            200, "data:createTemporaryCredentials", self._credentials(rec, call.body or {})
        )

    def _credentials(self, rec: DataRec, options: dict[str, Any]) -> dict[str, Any]:
        if self.s3 is None:
            raise Problem(
                501,
                "ICA_EMU_NO_S3",
                "the emulator has no S3 endpoint for temporary credentials (Uploads.use_s3)",
            )
        with self._lock:
            self.credentials_issued.append(rec.id)
        s3 = self.s3
        key = self.key_of(rec)
        if rec.folder or s3.prefix_mode == "folder":
            prefix = key if rec.folder else key.rsplit("/", 1)[0] + "/"
        else:
            prefix = key
        if s3.mint is not None:
            access, secret, token = s3.mint(prefix)
        else:
            access = "ASIA" + secrets.token_hex(8).upper()
            secret, token = secrets.token_urlsafe(30), secrets.token_urlsafe(60)
        if options.get("credentialsFormat") == "RCLONE":
            expires = self.world.stamp(self.clock.now() + LIFETIME)
            return {
                "rcloneTempCredentials": {
                    "config": {
                        "type": "s3",
                        "provider": "AWS",
                        "env_auth": "false",
                        "access_key_id": access,
                        "secret_access_key": secret,
                        "session_token": token,
                        "region": s3.region,
                        "endpoint": s3.endpoint_url,
                    },
                    "filePathPrefix": f"{s3.bucket}/{prefix}",
                    "storageType": "AWS_S3",
                    "expirationTime": expires,
                }
            }
        return {
            "awsTempCredentials": {
                "accessKey": access,
                "secretKey": secret,
                "sessionToken": token,
                "region": s3.region,
                "bucket": s3.bucket,
                "objectPrefix": prefix,
                "serverSideEncryptionAlgorithm": "AES256",
            }
        }

    # -- status and tags -------------------------------------------------------------------

    def _get(self, call: Call) -> httpx.Response:
        rec = self._rec(call)
        return self._answer(200, "data:get", self._body(rec), self._etag(rec))

    def _update(self, call: Call) -> httpx.Response:
        rec = self._rec(call)
        wanted = call.request.headers.get("If-Match")
        if wanted and wanted != self._etag(rec):
            raise Problem(409, "ICA_EMU_CONFLICT", f"{rec.path} changed since it was read")
        data = call.body.get("data") or {}
        if data.get("id") != rec.id:
            raise Problem(400, "ICA_EMU_VALIDATION", "the body's data.id is not this data's id")
        tags = (data.get("details") or {}).get("tags") or {}
        rec.technical_tags = [str(t) for t in tags.get("technicalTags") or []]
        return self._answer(200, "data:get", self._body(rec), self._etag(rec))

    # -- the URLs it hands out ---------------------------------------------------------------

    def download_url(self, rec: DataRec) -> str | None:
        """A presigned S3 GET for ``rec`` when its object is in S3 (else None: the
        emulator's own download URL)."""
        if self.s3 is None or rec.id in self._blobs or self._head(rec) is None:
            return None
        return str(
            self.s3_client().generate_presigned_url(
                "get_object",
                Params={"Bucket": self.s3.bucket, "Key": self.key_of(rec)},
                ExpiresIn=3600,
            )
        )

    def blob(self, rec: DataRec) -> bytes | None:
        """The bytes uploaded to ``rec`` through the emulator's own URLs."""
        with self._lock:
            return self._blobs.get(rec.id)

    def serve(self, request: httpx.Request) -> httpx.Response:
        """Answer a PUT to an upload URL this module handed out."""
        path = request.url.path
        if request.method == "PUT" and path.startswith(UPLOADS):
            return self._receive(request, path[len(UPLOADS) :])
        return _s3_error(405, "MethodNotAllowed", "upload URLs take PUT")

    def _receive(self, request: httpx.Request, token: str) -> httpx.Response:
        with self._lock:
            if self._refusals:
                status = self._refusals.pop(0)
                code = "AccessDenied" if status == 403 else "InternalError"
                return _s3_error(status, code, "refused (scripted by the test)")
            data_id = self._tokens.get(token)
        rec = self.world.data.get(data_id or "")
        if rec is None or rec.status != "PARTIAL":
            return _s3_error(403, "AccessDenied", "this upload URL is no longer valid")
        body = request.content
        digest = hashlib.md5(body, usedforsecurity=False)
        given = request.headers.get("Content-MD5")
        if given is not None and given != base64.b64encode(digest.digest()).decode():
            return _s3_error(400, "BadDigest", "The Content-MD5 you specified did not match")
        with self._lock:
            self.bytes_received += len(body)
            self._blobs[rec.id] = body
            rec.size, rec.etag = len(body), digest.hexdigest()
            self._ready_at[rec.id] = self.clock.now() + self.settle
        return httpx.Response(200, headers={"ETag": f'"{rec.etag}"'})
