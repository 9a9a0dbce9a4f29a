"""ICA notifications -> runhub status events (``IcaBackend.parse_event``).

The message (reference/ica-events.md; platform docs, "Notifications" and "Pipeline
Chaining on AWS"): ``correlationId``, ``timestamp``, ``eventCode``,
``eventParameters {analysisPreviousStatus, analysisStatus}``, ``description``,
``projectId``, ``payloadVersion``, ``payload`` (the analysis: ``id``,
``userReference``, ``status``, ``tags``, ...). Payload V3 has a flat ``ownerId``,
V4 a nested ``owner {id}``; neither is needed here, and both are accepted.

Analysis event codes read: ``ICA_EXEC_028`` (any status change), ``ICA_EXEC_001``
(failed), ``ICA_EXEC_002`` (succeeded), ``ICA_EXEC_027`` (aborted). Any other ICA
code (``ICA_JOB_001``, data events) is :class:`~runhub.events.model.Ignored`.
The status is ``eventParameters.analysisStatus``, else ``payload.status``, else the
one the code implies; V3's closed enum (``INPROGRESS`` ...) is read as its V4 name.
The run's launch key and batch come from runhub's technical tags (``bodies.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from runhub.backend import RunRef
from runhub.events import Ignored, StatusEvent, Unreadable
from runhub.state import RunStatus, map_state
from runhub_ica.names import BATCH_TAG_PREFIX, KEY_TAG_PREFIX, is_uuid
from runhub_ica.recovery import technical_tags
from runhub_ica.states import STATES

STATUS_CHANGE = "ICA_EXEC_028"
#: Analysis event code -> the V4 status it implies when the message names none.
ANALYSIS_CODES: dict[str, str | None] = {
    STATUS_CHANGE: None,
    "ICA_EXEC_001": "FAILED",
    "ICA_EXEC_002": "SUCCEEDED",
    "ICA_EXEC_027": "ABORTED",
}
#: V3's closed status enum -> V4 names (the same statuses, other spellings).
V3_NAMES = {"INPROGRESS": "IN_PROGRESS", "AWAITINGINPUT": "AWAITING_INPUT"}
V3_NAMES["FAILEDFINAL"] = "FAILED_FINAL"


def parse_event(message: Mapping[str, Any]) -> StatusEvent | Ignored | None:
    """The status event in one ICA notification; None if it is not ICA's."""
    code = message.get("eventCode")
    if not isinstance(code, str) or not code.startswith("ICA_"):
        return None
    event_id = _text(message.get("correlationId"))
    if code not in ANALYSIS_CODES:
        return Ignored(f"ICA event {code} is not an analysis status event", event_id)
    payload = message.get("payload")
    if not isinstance(payload, Mapping):
        raise Unreadable(f"ICA event {code}: 'payload' is missing or not an object")
    project = _text(message.get("projectId")) or _text(payload.get("projectId"))
    analysis = _text(payload.get("id"))
    if not project or not is_uuid(project):
        raise Unreadable(f"ICA event {code}: 'projectId' is missing or not a UUID")
    if not analysis or not is_uuid(analysis):
        raise Unreadable(f"ICA event {code}: 'payload.id' is missing or not a UUID")
    parameters = message.get("eventParameters")
    parameters = parameters if isinstance(parameters, Mapping) else {}
    native = (
        _status(parameters.get("analysisStatus"))
        or _status(payload.get("status"))
        or ANALYSIS_CODES[code]
    )
    if native is None:
        raise Unreadable(f"ICA event {code}: no analysis status in the message")
    tags = technical_tags(dict(payload))
    key = _tagged(tags, KEY_TAG_PREFIX)
    batch = _tagged(tags, BATCH_TAG_PREFIX)
    status = RunStatus(
        ref=RunRef("ica", f"{project}/{analysis}", batch),
        state=map_state(dict(STATES), native),
        native=native,
        message=_text(payload.get("summary")),
        started=_time(payload.get("startDate")),
        ended=_time(payload.get("endDate")),
        name=_text(payload.get("userReference")),
    )
    return StatusEvent(
        event_id,
        status,
        key=key,
        code=code,
        at=_time(message.get("timestamp")),
        previous=_status(parameters.get("analysisPreviousStatus")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _status(value: Any) -> str | None:
    text = _text(value)
    return V3_NAMES.get(text, text) if text else None


def _tagged(tags: list[str], prefix: str) -> str | None:
    return next((t[len(prefix) :] for t in tags if t.startswith(prefix) and t != prefix), None)


def _time(value: Any) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


__all__ = ["ANALYSIS_CODES", "STATUS_CHANGE", "parse_event"]
