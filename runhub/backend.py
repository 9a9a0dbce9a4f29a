"""The contract between runhub and a platform: ``Backend``, ``Capabilities``, ``Output``.

``RunRef`` lives in :mod:`runhub.ref` (the model depends on nothing) and is
re-exported here for plugins, as is :class:`~runhub.forms.FormFile` (a file part of a
``multipart/form-data`` body built by :func:`request`).

Backends are sans-IO. Each operation is an *exchange*: a generator that yields
``httpx.Request`` objects and receives ``httpx.Response`` objects, and returns its
result. A driver (:mod:`runhub.transport`) sends the requests, retries them safely,
and throws mapped :class:`~runhub.errors.RunhubError` exceptions back into the
generator, so a backend can catch e.g. :class:`~runhub.errors.AmbiguousLaunch` at the
``yield`` that caused it. A backend that does no HTTP (``local``) returns plain values.
Independent steps (a launch's lookups) run side by side with
:func:`runhub.gather.gather`: their requests go out together, one round trip.

Backends never sleep, never open clients and never retry: the driver does.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeAlias, TypeVar

from pydantic import BaseModel, ConfigDict

from runhub.errors import AuthError, NotFound, PlatformError, SpecError, Unsupported
from runhub.forms import FormFile
from runhub.ref import RunRef
from runhub.state import RunState, RunStatus

if TYPE_CHECKING:
    import httpx

    from runhub.config import BackendSettings
    from runhub.detail import LogText, RunDetail
    from runhub.events.model import Ignored, StatusEvent
    from runhub.grouplaunch import GroupAnswer, GroupNotes, GroupRow
    from runhub.spec import RunSpec
    from runhub.transfer.contract import Captures, DataStore

T = TypeVar("T")

#: A backend operation: yields requests, receives responses, returns a ``T``.
Exchange: TypeAlias = Generator["httpx.Request", "httpx.Response", T]
#: What an operation may return: an exchange, or the value itself (no HTTP).
Operation: TypeAlias = Exchange[T] | T

#: ``request.extensions`` key: this request only reads, even if it is a POST.
READ_ONLY = "runhub.read_only"
#: ``request.extensions`` key: this request may be retried after an ambiguous failure.
IDEMPOTENT = "runhub.idempotent"
#: ``request.extensions`` key: a short description of what the request is for (logs).
PURPOSE = "runhub.purpose"
#: ``request.extensions`` key: secrets this request carries that ``secrets()`` could not
#: name when the driver was built (a token obtained mid-session); the driver masks them.
SECRETS = "runhub.secrets"


@dataclass(frozen=True, slots=True)
class Output:
    """One result file or folder of a run.

    ``sha256`` and ``etag`` are what the platform reports of the file's bytes, when
    it reports anything (ICA: runhub's content tag on files runhub uploaded, and the
    storage's ``objectETag``); downloads are checked against the strongest one.
    """

    path: str
    size: int | None = None
    kind: Literal["file", "folder"] = "file"
    id: str | None = None
    url: str | None = None
    sha256: str | None = None
    etag: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable shape."""
        return {"path": self.path, "size": self.size, "kind": self.kind, "id": self.id}


class Capabilities(BaseModel):
    """What a backend can do; the CLI and client check these before acting."""

    model_config = ConfigDict(frozen=True)

    #: Operations are HTTP exchanges. False for backends that act directly (``local``):
    #: their dry run calls :meth:`Backend.describe_launch` instead of ``launch``.
    http: bool = True
    cancel: bool = True
    #: Cancelling also deletes the run (Code Ocean): the CLI asks for confirmation.
    cancel_is_destructive: bool = False
    outputs: bool = True
    #: ``Output.url`` can be produced for downloads.
    download: bool = False
    ordered_parameters: bool = True
    named_parameters: bool = True
    processes: bool = False
    tags: bool = False
    version: bool = False
    outputs_path: bool = False
    #: ``statuses`` answers many runs with fewer requests than one per run.
    batch_status: bool = False
    #: Launch requests carry an idempotency key the platform honours.
    idempotent_launch: bool = False
    #: Seconds within which a run the platform is still creating may be missing from
    #: what ``recover`` sees. A launch interrupted less long ago that ``recover`` does
    #: not find is looked up again once this has passed, before it is sent anew.
    launch_settle: float = 0.0
    #: ``detail`` answers what the platform knows of a run (``runhub show``).
    detail: bool = False
    #: The log streams ``logs`` can read (``runhub logs``); empty: none.
    logs: tuple[str, ...] = ()
    #: ``list_runs`` lists the platform's own runs, however they were started.
    remote_runs: bool = False
    #: Local files and folders can be mounts: ``data()`` uploads them (runhub.transfer).
    stage: bool = False
    #: A finished run's results can become a data asset: ``captures()``.
    capture: bool = False
    #: ``launch_group`` creates several runs with one request (:mod:`runhub.grouplaunch`).
    group_launch: bool = False


class Backend:
    """Base class of every runhub backend.

    Subclasses set ``name``, ``settings_model`` and ``capabilities``, and implement
    the operations. The constructor takes the validated settings; backends must not
    do I/O in ``__init__``.
    """

    name: ClassVar[str]
    #: The plugin's own version, for the ``User-Agent`` every request carries
    #: (``runhub/<version> <name>/<version>``); None leaves that part out.
    version: ClassVar[str | None] = None
    settings_model: ClassVar[type[BackendSettings]]
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: Native state text -> RunState; used by :meth:`state_of`.
    states: ClassVar[Mapping[str, RunState]] = {}

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- offline -----------------------------------------------------------------

    def validate(self, spec: RunSpec) -> None:
        """Raise SpecError/Unsupported if this backend cannot run ``spec``; no I/O."""
        caps = self.capabilities
        if spec.processes and not caps.processes:
            raise SpecError(
                f"the {self.name} backend has no per-process parameters", field="processes"
            )
        if spec.parameters is not None:
            if isinstance(spec.parameters, list) and not caps.ordered_parameters:
                raise SpecError(
                    f"the {self.name} backend takes named parameters only",
                    field="parameters",
                    hint="write parameters as a mapping, e.g. {threads: 8}",
                )
            if isinstance(spec.parameters, dict) and not caps.named_parameters:
                raise SpecError(
                    f"the {self.name} backend takes ordered parameters only",
                    field="parameters",
                    hint="write parameters as a list",
                )

    def state_of(self, native: str | None) -> RunState:
        """Map a native state string to a RunState; unknown text gives UNKNOWN, never raises."""
        if native is None:
            return RunState.UNKNOWN
        return self.states.get(native, RunState.UNKNOWN)

    @classmethod
    def parse_event(cls, message: Mapping[str, Any]) -> StatusEvent | Ignored | None:
        """Read one platform notification (envelopes already removed, see
        :mod:`runhub.events`) as a status update; no I/O, no settings needed.

        Return None if the message is not this platform's, :class:`Ignored` if it is
        but says nothing runhub follows, and raise
        :class:`~runhub.events.model.Unreadable` if it is this platform's and broken.
        The default reads nothing (None).
        """
        return None

    def secrets(self) -> list[str]:
        """Every secret string this backend holds, for redaction. Default: from settings."""
        return self.settings.secret_values()

    def describe_launch(self, spec: RunSpec) -> Any:
        """What a launch of ``spec`` would do, for dry runs of non-HTTP backends."""
        return spec.to_data()

    # -- operations (exchanges or plain values) ----------------------------------

    def launch(self, spec: RunSpec, key: str, *, batch: str | None = None) -> Operation[RunStatus]:
        """Start one run of ``spec``. ``key`` is the launch's idempotency key,
        stable across retries and crashes; ``batch`` tags runs launched together."""
        raise NotImplementedError

    def recover(
        self, spec: RunSpec, key: str, *, since: float, claimed: frozenset[str] = frozenset()
    ) -> Operation[RunStatus | None]:
        """Find the run an earlier, interrupted launch with ``key`` may have created.

        Called before re-launching a key the ledger saw attempted at ``since``
        (epoch seconds) with no recorded result. ``claimed`` holds run ids already
        owned by other launches. Return the run, or None to launch again. The
        default returns None: right for backends whose launch honours ``key``
        (the platform replays the first answer).
        """
        return None

    def batch_keys(self, batch: str, specs: Sequence[RunSpec]) -> Operation[frozenset[str] | None]:
        """The launch keys of the runs the platform holds for ``batch``, or None if
        it cannot tell (the default).

        Asked before a batch sends rows its ledger never sent: a key found here
        that the ledger does not know means the ledger lost it, and the batch stops
        instead of launching those rows again. ``specs`` are the rows about to be
        sent (they say where to look, e.g. which project). Read-only.
        """
        return None

    def status(self, ref: RunRef) -> Operation[RunStatus]:
        """The current status of one run."""
        raise NotImplementedError

    def statuses(self, refs: Sequence[RunRef]) -> Operation[list[RunStatus]]:
        """The current status of many runs, in the order given.

        The default asks one run at a time; backends with ``batch_status`` override
        this to answer with fewer requests.
        """
        return self._one_by_one(refs)

    def _one_by_one(self, refs: Sequence[RunRef]) -> Exchange[list[RunStatus]]:
        results = []
        for ref in refs:
            results.append((yield from as_exchange(self.status(ref))))
        return results

    def cancel(self, ref: RunRef) -> Operation[RunStatus]:
        """Ask the platform to stop the run; returns the status right after."""
        raise NotImplementedError

    def outputs(self, ref: RunRef) -> Operation[list[Output]]:
        """The run's result files, flattened."""
        raise NotImplementedError

    def download_urls(self, ref: RunRef, outputs: Sequence[Output]) -> Operation[list[Output]]:
        """The same outputs with ``url`` set, for downloading (needs ``download``)."""
        return list(outputs)

    def serves_local_files(self) -> bool:
        """True if this backend's ``file:`` download URLs name files of this machine
        that runhub may copy: the local backend, or a server on loopback. Any other
        platform's ``file:`` URL is refused (it could name any file here)."""
        return not self.capabilities.http

    def data(self) -> DataStore | None:
        """The platform's data operations (uploads, listings, downloads), for
        backends with ``stage``; see :mod:`runhub.transfer.contract`."""
        return None

    def captures(self) -> Captures | None:
        """Data assets from run results, for backends with ``capture``."""
        return None

    def close(self) -> None:
        """Release anything the backend holds (caches, local handles)."""

    # -- optional operations: group launches ---------------------------------------

    def group_key(self, spec: RunSpec) -> str | None:
        """Which group ``spec`` may be launched in (needs ``group_launch``): rows
        with the same key may go in one :meth:`launch_group` request; None (the
        default) launches it alone. Offline, no I/O."""
        return None

    def launch_group(
        self, rows: Sequence[GroupRow], *, batch: str, notes: GroupNotes
    ) -> Operation[dict[str, GroupAnswer]]:
        """One step of launching ``rows`` together (needs ``group_launch``); the
        answer for each row's launch key (:mod:`runhub.grouplaunch`).

        Called again, with the rows' notes as recorded, until every row has its
        run or its error. Before sending a request that may create runs, call
        ``notes.sending(keys, note)`` with a note from which a later step sends the
        same request again (same body, same idempotency key); an answer that
        identifies the request is kept with ``notes.answered``. A row answered
        :data:`~runhub.grouplaunch.PER_RUN` is launched alone; one answered
        :class:`~runhub.grouplaunch.Later` is asked about in the next step.
        """
        raise Unsupported(f"the {self.name} backend cannot launch runs together")

    def plan_group(self, rows: Sequence[GroupRow], *, batch: str) -> Operation[list[httpx.Request]]:
        """The requests :meth:`launch_group` would send first for ``rows`` never sent
        (read-only lookups made, those requests not sent), for dry runs."""
        raise Unsupported(f"the {self.name} backend cannot launch runs together")

    # -- optional operations: pre-flight, detail, logs, the platform's own runs ------

    def preflight(self, spec: RunSpec) -> Operation[None]:
        """Every read-only lookup a launch of ``spec`` makes (pipeline, data, storage),
        raising what the launch would raise; nothing is created.

        The default drives :meth:`launch` up to its first mutating request (as
        ``--dry-run`` does) and never sends that one; a backend without HTTP only
        describes the launch. Override when the launch itself looks nothing up.
        """
        if not self.capabilities.http:
            self.describe_launch(spec)
            return None
        from runhub.preflight import PREFLIGHT_KEY, until_mutating

        return until_mutating(self.launch(spec, PREFLIGHT_KEY))

    def detail(self, ref: RunRef) -> Operation[RunDetail]:
        """What the platform says about one run (needs ``capabilities.detail``)."""
        raise Unsupported(f"the {self.name} backend cannot describe runs")

    def logs(self, ref: RunRef, stream: str = "stdout") -> Operation[LogText]:
        """One log stream of a run, as far as it is available now (needs
        ``stream in capabilities.logs``)."""
        raise Unsupported(f"the {self.name} backend cannot read run logs")

    def list_runs(
        self, *, target: str | None = None, limit: int = 100
    ) -> Operation[list[RunStatus]]:
        """The platform's own runs, newest first where it says (needs
        ``remote_runs``). ``target`` narrows them where the platform needs it
        (Code Ocean: a capsule or pipeline id)."""
        raise Unsupported(f"the {self.name} backend cannot list the platform's runs")

    # -- helpers for HTTP backends -------------------------------------------------

    def error_for(self, response: httpx.Response, context: str) -> PlatformError:
        """Turn an error response into a runhub error. ``context`` is a redacted
        ``METHOD url`` for the message. Override to parse the platform's error body."""
        status = response.status_code
        detail = response_excerpt(response)
        message = f"{context} -> {status} {detail}".rstrip()
        if status in (401, 403):
            return AuthError(message, status=status, detail=detail)
        if status == 404:
            return NotFound(message, detail=detail)
        return PlatformError(message, status=status, detail=detail)


def as_exchange(op: Operation[T]) -> Exchange[T]:
    """Make any operation result an exchange, so backends can ``yield from`` it."""
    if isinstance(op, Generator):
        return (yield from op)
    return op


def request(
    method: str,
    url: httpx.URL | str,
    *,
    params: Mapping[str, Any] | None = None,
    json_body: Any = None,
    form: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    files: Sequence[FormFile] | None = None,
    headers: Mapping[str, str] | None = None,
    read_only: bool | None = None,
    idempotent: bool | None = None,
    purpose: str | None = None,
    secrets: Sequence[str] = (),
) -> httpx.Request:
    """Build a request for an exchange to yield.

    The body is ``json_body`` (JSON), or ``form`` text fields plus ``files``
    (:class:`runhub.forms.FormFile`), sent as ``multipart/form-data`` even without
    files. ``read_only`` defaults to True for GET/HEAD. A request with an
    ``Idempotency-Key`` header is idempotent unless told otherwise. ``secrets``
    lists credentials it carries that the driver must mask from then on.
    """
    import httpx  # here, not at import time: backends without HTTP never load it

    method = method.upper()
    content = None
    all_headers = dict(headers or {})
    if json_body is not None and (form is not None or files is not None):
        raise TypeError("request() takes a JSON body or a form, not both")
    if json_body is not None:
        content = json.dumps(json_body, separators=(",", ":")).encode()
        all_headers.setdefault("Content-Type", "application/json")
    elif form is not None or files is not None:
        from runhub.forms import encode_multipart

        content, all_headers["Content-Type"] = encode_multipart(form or {}, files or ())
    req = httpx.Request(method, url, params=params, content=content, headers=all_headers)
    if read_only is None:
        read_only = method in ("GET", "HEAD")
    if idempotent is None:
        idempotent = read_only or method in ("PUT", "DELETE") or "idempotency-key" in req.headers
    req.extensions[READ_ONLY] = read_only
    req.extensions[IDEMPOTENT] = idempotent
    if purpose:
        req.extensions[PURPOSE] = purpose
    if secrets:
        req.extensions[SECRETS] = tuple(secrets)
    return req


def is_read_only(req: httpx.Request) -> bool:
    """True if the request only reads (GETs, and POSTs the backend marked so)."""
    return bool(req.extensions.get(READ_ONLY, req.method in ("GET", "HEAD")))


def is_idempotent(req: httpx.Request) -> bool:
    """True if repeating the request cannot create a second effect."""
    if IDEMPOTENT in req.extensions:
        return bool(req.extensions[IDEMPOTENT])
    return req.method in ("GET", "HEAD", "PUT", "DELETE", "OPTIONS") or (
        "idempotency-key" in req.headers
    )


def response_json(response: httpx.Response, context: str = "") -> Any:
    """The response body as JSON, or a PlatformError naming what came back instead."""
    try:
        return response.json()
    except ValueError as exc:
        where = context or f"{response.request.method} {response.request.url.path}"
        raise PlatformError(
            f"{where} -> {response.status_code} with a body that is not valid JSON: "
            f"{response_excerpt(response)}",
            status=response.status_code,
        ) from exc


def response_excerpt(response: httpx.Response, limit: int = 160) -> str:
    """A short, single-line excerpt of a response body for error messages.

    HTML (a gateway's error page) is reduced to its text, so the user reads
    "502 Bad Gateway" rather than markup.
    """
    try:
        text = response.text
    except Exception:  # a body that cannot be decoded still gets a message
        return "(unreadable body)"
    if "html" in response.headers.get("content-type", "") or text.lstrip().startswith("<"):
        text = _html_text(text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def _html_text(markup: str) -> str:
    import html
    import re

    markup = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", markup)
    return html.unescape(re.sub(r"<[^>]*>", " ", markup))


__all__ = [
    "IDEMPOTENT",
    "PURPOSE",
    "READ_ONLY",
    "SECRETS",
    "Backend",
    "Capabilities",
    "Exchange",
    "FormFile",
    "Operation",
    "Output",
    "RunRef",
    "RunState",
    "RunStatus",
    "as_exchange",
    "is_idempotent",
    "is_read_only",
    "request",
    "response_excerpt",
    "response_json",
]
