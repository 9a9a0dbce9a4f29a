"""Documented variance: readings of ICA where the authority is silent or loose.

Each field switches the emulator to one reading the official spec allows but does
not promise (or that the platform docs show), so tests can prove runhub holds under
every reading. All are off by default; :meth:`Variance.documented` turns every one on
(``python -m runhub_ica.emulator --variance``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variance:
    """Which documented variances the emulator shows."""

    #: A keyed create is "still in progress" for this many further requests with the
    #: same key: each is answered 409 (spec text on every create's Idempotency-Key)
    #: before the stored answer is replayed.
    in_flight_conflicts: int = 0
    #: ``analysis:search`` matches a technical/user tag when any *word* of it matches
    #: (the spec says nothing about how tags are matched): near-misses come back.
    loose_tags: bool = False
    #: ``DataDetails.path`` is "the user friendly path of the parent of this data" (the
    #: spec's wording) instead of the item's own path (what wrapica relies on).
    parent_paths: bool = False
    #: At most this many rows per page of ``GET /data`` and ``GET /projects``, whatever
    #: ``pageSize`` asks (the spec gives no maximum; cursor paging must be followed).
    page_cap: int | None = None
    #: ``AnalysisData.mountPath`` of outputs is where the file lay on the machine that
    #: ran the pipeline (the spec documents it as the *input* location), not a path
    #: in the project.
    machine_mount_paths: bool = False

    @classmethod
    def documented(cls) -> Variance:
        """Every variance on (what ``--variance`` serves)."""
        return cls(
            in_flight_conflicts=2,
            loose_tags=True,
            parent_paths=True,
            page_cap=2,
            machine_mount_paths=True,
        )

    @property
    def active(self) -> bool:
        """True if any variance is on."""
        return self != Variance()
