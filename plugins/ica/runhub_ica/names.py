"""Names, ids and tags: ICA's userReference rule, id shapes, runhub's technical tags."""

from __future__ import annotations

import re

from runhub.errors import SpecError

NAME_RULE = (
    "ICA run names (userReference) are 1-255 characters: letters, digits, space, '_' "
    "and '-', with '/' only between non-empty parts"
)
#: The spec's userReference pattern (``^…$``), applied with ``fullmatch``: ``$`` alone
#: also matches before a trailing newline, which ICA would refuse.
_NAME = re.compile(r"[a-zA-Z0-9 _-]*(/[a-zA-Z0-9 _-]+)*")
_NAME_BAD = re.compile(r"[^a-zA-Z0-9 _/-]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_DATA_ID = re.compile(r"(fil|fol)\.[0-9A-Za-z]+")
BATCH_TAG_PREFIX = "runhub-batch:"
#: ``Idempotency-Key`` is ``maxLength: 255`` on every create operation of the spec.
MAX_KEY = 255
KEY_TAG_PREFIX = "runhub-key:"


def is_uuid(text: str) -> bool:
    """True for a canonical UUID (pipeline, storage, project and activation ids)."""
    return bool(_UUID.fullmatch(text))


def is_data_id(text: str) -> bool:
    """True for an ICA data id (``fil.…`` or ``fol.…``)."""
    return bool(_DATA_ID.fullmatch(text))


def batch_tag(batch: str) -> str:
    """The technical tag that marks every run of one launch batch."""
    return BATCH_TAG_PREFIX + batch


def key_tag(key: str) -> str:
    """The technical tag that names a launch's key: lets ``recover`` find the run
    even after ICA's 7-day idempotency window."""
    return KEY_TAG_PREFIX + key


def suggest_name(text: str) -> str:
    """A valid userReference close to ``text`` (bad characters become ``_``)."""
    parts = [_NAME_BAD.sub("_", part).strip() for part in text.split("/")]
    name = "/".join(part for part in parts if part)[:255].rstrip("/")
    return name or "run"


def check_name(name: str, field: str = "name") -> str:
    """``name`` if it is a valid userReference, else a SpecError quoting the rule."""
    if 1 <= len(name) <= 255 and _NAME.fullmatch(name):
        return name
    raise SpecError(
        f"{name!r} is not a valid ICA run name",
        field=field,
        hint=f"{NAME_RULE}; e.g. {suggest_name(name)!r}",
    )


def check_key(key: str) -> str:
    """``key`` if ICA can take it as an ``Idempotency-Key``, else a SpecError."""
    if 1 <= len(key) <= MAX_KEY and key.isprintable() and key.strip() == key:
        return key
    raise SpecError(
        f"the launch key is {len(key)} characters long or holds spaces or control characters",
        field="key",
        hint=f"ICA takes an Idempotency-Key of 1-{MAX_KEY} printable characters",
    )


def default_name(key: str) -> str:
    """The name of a run launched without one: derived from the launch key, so a
    retried launch sends the same body (ICA answers 422 to a changed body)."""
    stem = suggest_name(key.removeprefix("runhub-"))
    return f"runhub-{stem}"[:255]
