"""RunSpec -> ICA request bodies: pure functions, no I/O, in two steps.

1. :func:`~runhub_ica.plans.plan` checks everything that can be checked offline
   (``validate``) and returns a :class:`Plan` of what must be looked up;
2. :func:`~runhub_ica.bodies.body` turns a plan plus the looked-up ids
   (:class:`Resolved`) into the request body, :func:`~runhub_ica.bodies.endpoint`
   names its operation.

This module is the one place both are imported from.
"""

from __future__ import annotations

from typing import Any

from runhub.spec import RunSpec
from runhub_ica.bodies import body, check_form, endpoint, needs_name, uses_form
from runhub_ica.names import (
    BATCH_TAG_PREFIX,
    KEY_TAG_PREFIX,
    NAME_RULE,
    batch_tag,
    check_name,
    default_name,
    is_data_id,
    is_uuid,
    key_tag,
    suggest_name,
)
from runhub_ica.plans import (
    CUSTOM_KINDS,
    JSON_FORM_ENDPOINTS,
    KINDS,
    V3,
    V4,
    Mount,
    Plan,
    Resolved,
    param_text,
    plan,
    unstaged,
)

__all__ = [
    "BATCH_TAG_PREFIX",
    "CUSTOM_KINDS",
    "JSON_FORM_ENDPOINTS",
    "KEY_TAG_PREFIX",
    "KINDS",
    "NAME_RULE",
    "V3",
    "V4",
    "Mount",
    "Plan",
    "Resolved",
    "batch_tag",
    "body",
    "check_form",
    "check_name",
    "default_name",
    "endpoint",
    "is_data_id",
    "is_uuid",
    "key_tag",
    "needs_name",
    "param_text",
    "plan",
    "suggest_name",
    "translate",
    "unstaged",
    "uses_form",
]


def translate(
    spec: RunSpec, resolved: Resolved, *, key: str, batch: str | None = None
) -> tuple[str, dict[str, Any]]:
    """``(endpoint suffix, body)`` for a spec whose lookups are already done."""
    p = plan(spec)
    return endpoint(p, resolved), body(p, resolved, key=key, batch=batch)
