"""``RunRef``: the printable, pasteable name of one run (``backend:id``).

Part of the model, with :mod:`runhub.spec` and :mod:`runhub.state`: it depends on
nothing but the error types, so every layer above can import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runhub.errors import SpecError


@dataclass(frozen=True, slots=True)
class RunRef:
    """A printable, pasteable reference to one run: ``backend:id``.

    ``batch`` is a polling-group hint chosen by the backend that made the ref (ICA:
    the launch batch tag; Code Ocean: the capsule); it lets ``statuses`` ask a
    whole group in one request. The ledger keeps it beside the ref. It is not part
    of the text form or of equality.
    """

    backend: str
    id: str
    batch: str | None = field(default=None, compare=False, hash=False)

    @classmethod
    def parse(cls, text: str, *, batch: str | None = None) -> RunRef:
        """Parse ``backend:id``; raises :class:`SpecError` on anything else."""
        backend, sep, ident = text.strip().partition(":")
        if not sep or not backend or not ident:
            raise SpecError(
                f"{text!r} is not a run reference",
                hint="write it as BACKEND:ID, e.g. local:20261123-abc123 as printed by launch",
            )
        return cls(backend, ident, batch)

    def __str__(self) -> str:
        return f"{self.backend}:{self.id}"


__all__ = ["RunRef"]
