"""ICA creation batches: many analyses created by one ``analysisCreationBatch`` request.

One step of :meth:`IcaBackend.launch_group` (see :mod:`runhub.grouplaunch` for the
ledger's side). The spec (``createAnalysisCreationBatch``, v3 only) takes
``nextflowItems`` (the ``analysis:nextflow`` body), ``nextflowJsonItems`` (the JSON
input form's body) and ``cwlItems`` (the deprecated ``analysis:cwl`` body, which for
a structured input is runhub's ``cwlWithStructuredInput`` body plus
``objectType: STRUCTURED``); other runs are launched alone.

- A chunk is the rows of one project sorted by launch key, at most
  ``creation_batch_size`` of them; its ``Idempotency-Key`` is derived from their
  launch keys (:func:`chunk_key`). Its note (``cb1:<project>:<key>[:<batch id>]``) is
  in the ledger before it is sent, so a step after a crash sends the same rows with
  the same key (ICA replays the answer for 7 days) or, once ICA's batch id is noted,
  only reads the batch's items.
- Items are matched to rows by their own ``userReference`` and ``runhub-key:`` tag,
  never by position; an item that FAILED fails its row with ICA's
  ``additionalStatusInformation``.
- 400 to a whole chunk: it is split in halves until the refused rows stand alone;
  413 (or a 400 saying the batch is too large): halved, and later chunks of the
  session are no larger. 409: the first request is still in progress, ask again.
  422: a different body under the same key, a runhub bug: its rows fail saying so.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from runhub.backend import Exchange, response_json
from runhub.errors import (
    AmbiguousLaunch,
    NotFound,
    PlatformError,
    RateLimited,
    RunhubError,
    SpecError,
    TransportError,
)
from runhub.gather import gather
from runhub.grouplaunch import PER_RUN, GroupAnswer, GroupNotes, GroupRow, Later
from runhub_ica.names import default_name, key_tag
from runhub_ica.plans import V3, V4, Plan, Resolved, plan
from runhub_ica.recovery import technical_tags
from runhub_ica.wire import get, post

if TYPE_CHECKING:
    from runhub_ica.backend import IcaBackend

NOTE = "cb1"
#: ICA keeps a keyed answer for 7 days; a chunk noted longer ago than this is not
#: sent again (it could create its runs twice): its rows are looked up by key tag.
KEY_WINDOW = 6 * 86_400.0
#: A chunk noted this recently whose rows are not all here is waited for (another
#: launch holds some); older, its rows are looked up by key tag one by one.
INCOMPLETE_PATIENCE = 600.0
#: Item processing states after which an item never changes.
ITEM_DONE = ("SUCCEEDED", "FAILED")
_TOO_LARGE = ("too large", "too many", "maximum", "exceeds", "limit")
#: Steps in a row a chunk may end in a network failure, a rate limit or a server error
#: past the retry budget before its rows get that error (a re-run sends it again).
TRANSIENT_TRIES = 3
TRANSIENT_WAIT = 5.0


def chunk_key(keys: Sequence[str]) -> str:
    """The ``Idempotency-Key`` of a chunk: from its rows' launch keys alone."""
    text = "runhub-creation-batch/1\0" + "\0".join(sorted(keys))
    return "runhub-cb-" + hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Note:
    """What the ledger holds for a row sent in a chunk."""

    project: str
    key: str
    batch_id: str | None = None

    def __str__(self) -> str:
        return ":".join([NOTE, self.project, self.key, *([self.batch_id] if self.batch_id else [])])

    @classmethod
    def parse(cls, text: str | None) -> Note | None:
        parts = (text or "").split(":")
        if len(parts) not in (3, 4) or parts[0] != NOTE:
            return None
        return cls(parts[1], parts[2], parts[3] if len(parts) == 4 else None)


@dataclass(frozen=True)
class Item:
    """One row's body in a chunk."""

    key: str
    array: str
    body: dict[str, Any]


def items_array(p: Plan, r: Resolved) -> str | None:
    """The array of ``CreateAnalysisCreationBatch`` the run's body goes in, or None
    if the batch cannot express it exactly."""
    if p.kind == "nextflow":
        return "nextflowJsonItems" if r.form == "JSON" else "nextflowItems"
    if p.kind == "cwl" and r.form != "JSON":
        return "cwlItems"  # analysis:cwl with a structured input: the same fields
    return None


def group_kind(spec_plan: Plan) -> str | None:
    """The run's group (its project override and kind) if its kind can go in a
    creation batch; the pipeline's input form, known after the lookups, may still
    say no. None: launched alone."""
    if spec_plan.kind not in ("nextflow", "cwl"):
        return None
    return f"{spec_plan.project or ''}"


class CreationBatches:
    """Creation-batch steps for one backend (its lookups, credentials, settings)."""

    def __init__(self, backend: IcaBackend) -> None:
        self.backend = backend
        self.creds = backend.creds
        #: The largest chunk ICA took without saying "too large" (None: not learned).
        self.limit: int | None = None
        #: chunk key -> steps in a row that ended in a network failure or rate limit
        self._troubles: dict[str, int] = {}

    @property
    def size(self) -> int:
        size = self.backend.settings.creation_batch_size
        return min(size, self.limit) if self.limit else size

    # -- one step ------------------------------------------------------------------

    def step(
        self, rows: Sequence[GroupRow], batch: str, notes: GroupNotes
    ) -> Exchange[dict[str, GroupAnswer]]:
        """Answer every row: read noted batches, re-send noted chunks, send new ones."""
        answers: dict[str, GroupAnswer] = {}
        fresh: list[GroupRow] = []
        noted: dict[tuple[str, str], list[GroupRow]] = {}
        answered: dict[tuple[str, str], str] = {}  # chunk -> ICA's batch id, once noted
        for row in rows:
            note = Note.parse(row.note)
            if note is None:
                fresh.append(row)
                continue
            noted.setdefault((note.project, note.key), []).append(row)
            if note.batch_id:
                answered[(note.project, note.key)] = note.batch_id
        work = []
        resend: list[GroupRow] = []
        for (project, key), members in noted.items():
            if (project, key) in answered:
                wanted = {m.key: (_name_of(m), m.attempted_at) for m in members}
                work.append(self._read(project, answered[(project, key)], wanted, batch))
            elif chunk_key([m.key for m in members]) != key:
                answers.update(self._incomplete(members))
            elif _age(members) > KEY_WINDOW:
                answers.update(dict.fromkeys((m.key for m in members), PER_RUN))
            else:
                resend.extend(members)
        resolved = yield from self._resolve([*resend, *fresh], batch, answers)
        again = {r.key for r in resend}
        chunks = self._chunks([i for i in resolved if i[1].key in again])
        chunks += self._chunks([i for i in resolved if i[1].key not in again])
        work += [self._send(project, chunk, batch, notes) for project, chunk in chunks]
        # One request at a time: ICA limits the request rate (429), and a handful of
        # requests for a whole samplesheet is the point; none waits for another's turn
        # for long (one round trip each).
        for one in work:
            answers.update((yield from one))
        return answers

    def requests(self, rows: Sequence[GroupRow], batch: str) -> Exchange[list[httpx.Request]]:
        """The requests a first step would send for ``rows`` (none is sent)."""
        answers: dict[str, GroupAnswer] = {}
        resolved = yield from self._resolve(rows, batch, answers)
        for answer in answers.values():
            if isinstance(answer, RunhubError):
                raise answer
        return [self.request(project, chunk) for project, chunk in self._chunks(resolved)]

    def _incomplete(self, members: list[GroupRow]) -> dict[str, GroupAnswer]:
        """A noted chunk whose rows are not all here: wait while another launch may
        hold the rest; long after, look each row up by its key tag instead."""
        if _age(members) < INCOMPLETE_PATIENCE:
            return dict.fromkeys((m.key for m in members), Later(1.0))
        return dict.fromkeys((m.key for m in members), PER_RUN)

    # -- bodies ----------------------------------------------------------------------

    def _resolve(
        self, rows: Sequence[GroupRow], batch: str, answers: dict[str, GroupAnswer]
    ) -> Exchange[list[tuple[str, Item]]]:
        """(project, item) per row that can go in a batch; the others are answered:
        their own error (nothing sent), or PER_RUN."""
        if not rows:
            return []
        # the first row alone: its lookups fill the caches the other rows use
        first = yield from self._one(rows[0], batch)
        rest = yield from gather(*(self._one(row, batch) for row in rows[1:]))
        out = []
        for row, got in zip(rows, [first, *rest], strict=True):
            if isinstance(got, tuple):
                out.append(got)
            else:
                answers[row.key] = got
        return out

    def _one(self, row: GroupRow, batch: str) -> Exchange[tuple[str, Item] | GroupAnswer]:
        try:
            p = plan(row.spec)
            project, resolved, body = yield from self.backend.resolve(p, row.key, batch)
        except RunhubError as error:
            return error
        array = items_array(p, resolved)
        if array is None:
            return PER_RUN
        if array == "cwlItems":
            body["analysisInput"] = {"objectType": "STRUCTURED", **body["analysisInput"]}
        return project, Item(row.key, array, body)

    def _chunks(self, items: list[tuple[str, Item]]) -> list[tuple[str, list[Item]]]:
        by_project: dict[str, list[Item]] = {}
        for project, item in items:
            by_project.setdefault(project, []).append(item)
        out = []
        for project, members in sorted(by_project.items()):
            members.sort(key=lambda i: i.key)
            out += [
                (project, members[at : at + self.size]) for at in range(0, len(members), self.size)
            ]
        return out

    def request(self, project: str, chunk: Sequence[Item]) -> httpx.Request:
        """The ``createAnalysisCreationBatch`` request of a chunk (not sent)."""
        body: dict[str, list[dict[str, Any]]] = {}
        for item in sorted(chunk, key=lambda i: i.key):
            body.setdefault(item.array, []).append(item.body)
        return post(
            self.creds,
            f"/api/projects/{project}/analysisCreationBatch",
            V3,
            f"create {len(chunk)} analyses in a batch",
            body,
            extra={"Idempotency-Key": chunk_key([i.key for i in chunk])},
        )

    # -- sending ---------------------------------------------------------------------

    def _send(
        self, project: str, chunk: list[Item], batch: str, notes: GroupNotes
    ) -> Exchange[dict[str, GroupAnswer]]:
        keys = [i.key for i in chunk]
        key = chunk_key(keys)
        notes.sending(keys, str(Note(project, key)))
        try:
            resp = yield self.request(project, chunk)
        except AmbiguousLaunch as error:
            if "409" not in str(error):
                return self._trouble(key, keys, error)
            return dict.fromkeys(keys, Later(2.0))  # the first request is still in progress
        except (RateLimited, TransportError) as error:
            return self._trouble(key, keys, error)
        except PlatformError as error:
            if (error.status or 0) >= 500:  # past the retry budget; ICA stored nothing
                return self._trouble(key, keys, error)
            return (yield from self._refused(project, chunk, batch, notes, error))
        self._troubles.pop(key, None)
        batch_id = str(response_json(resp).get("id") or "")
        if not batch_id:
            raise PlatformError("ICA answered a creation batch without its id")
        notes.answered(keys, str(Note(project, key, batch_id)))
        # ICA creates the analyses in the background: the items are read next step
        return dict.fromkeys(keys, Later(_wait(time.time())))

    def _trouble(self, key: str, keys: list[str], error: RunhubError) -> dict[str, GroupAnswer]:
        """A network failure or rate limit past the retry budget: this chunk's rows
        are asked about again in a while (the others go on); after a few such steps
        in a row, they get the error (a re-run sends the same chunk again)."""
        tries = self._troubles.get(key, 0) + 1
        self._troubles[key] = tries
        if tries > TRANSIENT_TRIES:
            self._troubles.pop(key, None)
            return dict.fromkeys(keys, error)
        return dict.fromkeys(keys, Later(TRANSIENT_WAIT * tries))

    def _refused(
        self,
        project: str,
        chunk: list[Item],
        batch: str,
        notes: GroupNotes,
        error: PlatformError,
    ) -> Exchange[dict[str, GroupAnswer]]:
        keys = [i.key for i in chunk]
        if error.status == 422:
            bug = PlatformError(
                f"ICA answered 422 to creation batch {chunk_key(keys)}: the same "
                "Idempotency-Key was sent with another body. This is a runhub bug; please "
                f"report it. ICA said: {error.detail or error}",
                status=422,
            )
            return dict.fromkeys(keys, bug)
        too_large = error.status == 413 or (
            error.status == 400 and any(w in (error.detail or "").lower() for w in _TOO_LARGE)
        )
        if not too_large and (error.status != 400 or len(chunk) == 1):
            if error.status == 400:  # this row alone is refused
                return {keys[0]: error}
            raise error  # not about the rows (auth, the project): the whole step fails
        if len(chunk) == 1:
            return {keys[0]: error}
        if too_large:
            self.limit = max(1, min(self.limit or len(chunk), len(chunk)) // 2)
        half = len(chunk) // 2
        first = yield from self._send(project, chunk[:half], batch, notes)
        return {**first, **(yield from self._send(project, chunk[half:], batch, notes))}

    # -- reading items ---------------------------------------------------------------

    def _read(
        self,
        project: str,
        batch_id: str,
        wanted: dict[str, tuple[str, float | None]],
        batch: str,
    ) -> Exchange[dict[str, GroupAnswer]]:
        """Every page of the batch's items; each row's answer from its own item.
        ``wanted``: launch key -> (the row's userReference, when it was sent)."""
        listed: list[dict[str, Any]] = []
        token: str | None = None
        seen: set[str] = set()
        path = f"/api/projects/{project}/analysisCreationBatch/{batch_id}/items"
        while True:
            params: dict[str, Any] = {"pageSize": str(self.backend.settings.page_size)}
            if token:
                params["pageToken"] = token
            try:
                resp = yield get(self.creds, path, V4, "read a creation batch's items", **params)
            except NotFound:  # the batch is gone: each row is looked up by its key tag
                return dict.fromkeys(wanted, PER_RUN)
            except (RateLimited, TransportError) as error:
                return self._trouble(batch_id, list(wanted), error)
            except PlatformError as error:
                if (error.status or 0) < 500:
                    raise
                return self._trouble(batch_id, list(wanted), error)
            data = response_json(resp)
            listed += [i for i in data.get("items") or [] if isinstance(i, dict)]
            token = data.get("nextPageToken") or None
            if not token or token in seen:
                break
            seen.add(token)
        self._troubles.pop(batch_id, None)
        every_done = all(_processing(i)[0] in ITEM_DONE for i in listed)
        answers: dict[str, GroupAnswer] = {}
        for key, (name, sent) in wanted.items():
            item = _item_for(listed, key, name)
            if item is None:
                answers[key] = (
                    PlatformError(f"ICA's creation batch {batch_id} holds no item for this run")
                    if listed and every_done
                    else Later(_wait(sent))
                )
                continue
            created = item.get("createdAnalysis")
            status, info = _processing(item)
            if isinstance(created, dict) and created.get("id"):
                answers[key] = self.backend._to_status(created, project, batch)
            elif status == "FAILED":
                answers[key] = PlatformError(
                    f"ICA could not create this run: {info or 'no reason given'}", detail=info
                )
            else:
                answers[key] = Later(_wait(sent))
        return answers


def _processing(item: dict[str, Any]) -> tuple[str | None, str | None]:
    processing = item.get("processing")
    if not isinstance(processing, dict):
        return None, None
    status, info = processing.get("status"), processing.get("additionalStatusInformation")
    return (
        status if isinstance(status, str) else None,
        info if isinstance(info, str) else None,
    )


def _item_for(items: list[dict[str, Any]], key: str, name: str) -> dict[str, Any] | None:
    """The item of the row with launch key ``key``: its request carries the row's
    userReference and its key tag (items are never matched by position)."""
    tag = key_tag(key)
    for item in items:
        request = item.get("request")
        if not isinstance(request, dict) or request.get("userReference") != name:
            continue
        if tag in technical_tags(request):
            return item
    return None


def _name_of(row: GroupRow) -> str:
    try:
        return plan(row.spec).name or default_name(row.key)
    except SpecError:
        return default_name(row.key)


def _age(rows: Sequence[GroupRow]) -> float:
    times = [r.attempted_at for r in rows if r.attempted_at is not None]
    return time.time() - min(times) if times else 0.0


def _wait(sent: float | None) -> float:
    """Seconds before the items are read again: soon at first, then less often."""
    age = time.time() - sent if sent else 0.0
    return max(0.5, min(10.0, age / 10))
