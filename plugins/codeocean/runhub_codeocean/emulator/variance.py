"""The emulator's documented-variance mode: each reading of the platform that the
authorities allow but our default emulator does not show, switched on by name.

runhub must be right under every reading, so the tests run it against each.
``CodeOceanEmulator(variance=True)`` (or ``--variance all``) turns on every one:

``attached-assets``
    A computation's ``data_assets`` also list the assets attached to the capsule
    or pipeline itself (SDK ``Computation.data_assets``: "data assets attached to
    this computation"; ``Capsules.attach_data_assets``). A sent asset at an
    attached asset's mount replaces it (docs, Run Pipeline).
``label-only-parameters``
    ``parameters`` come back as ``{name, value}``: ``name`` the app panel's label,
    no ``param_name`` (SDK ``Param``: both optional; the docs' Computation example
    shows only ``name`` and ``value``).
``unknown-end-status``
    A run scripted to fail ends ``completed`` with ``end_status: timed_out`` and
    exit code 0, one scripted to crash ``completed/preempted`` with no exit code:
    end statuses the SDK's ``ComputationEndStatus`` does not list (its enum is
    closed, the server's is not documented as such).
``capsule-id-wins``
    A request naming both ``capsule_id`` and ``pipeline_id`` runs the capsule
    (docs, Run Capsules/Pipelines: "if both capsule_id and pipeline_id are used,
    only the capsule id will be used"). Default: 400, as the MCP server's docs say.
``pipeline-as-capsule``
    A pipeline's id given as ``capsule_id`` runs the pipeline (docs: ``capsule_id``
    is "the id of the capsule/pipeline to run"). Default: 404.
``release-listing``
    Runs of a ``version`` pin are listed under the release capsule
    (``GET capsules/{release_capsule}/computations``; SDK ``Capsule.release_capsule``)
    and not under the capsule itself. Default: under both.
"""

from __future__ import annotations

from collections.abc import Iterable

VARIANCE: tuple[str, ...] = (
    "attached-assets",
    "label-only-parameters",
    "unknown-end-status",
    "capsule-id-wins",
    "pipeline-as-capsule",
    "release-listing",
)


def readings(chosen: bool | str | Iterable[str] | None) -> frozenset[str]:
    """The readings switched on: True or ``"all"`` means every one; a string is a
    comma-separated list. ValueError names an unknown one."""
    if chosen is None or chosen is False:
        return frozenset()
    if chosen is True or chosen == "all":
        return frozenset(VARIANCE)
    names = [n.strip() for n in chosen.split(",")] if isinstance(chosen, str) else list(chosen)
    unknown = sorted(set(names) - set(VARIANCE) - {""})
    if unknown:
        raise ValueError(f"unknown variance {unknown} (known: {', '.join(VARIANCE)}, all)")
    return frozenset(n for n in names if n)
