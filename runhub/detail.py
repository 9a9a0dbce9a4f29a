"""What ``show`` and ``logs`` report about one run: :class:`RunDetail`, :class:`LogText`.

Plain dataclasses built by a backend's optional ``detail`` and ``logs``
operations (see :class:`runhub.backend.Capabilities`). A detail keeps the
platform's own view of a run (pipeline, parameters, inputs, storage, tags, times,
exit code, its web page); the spec runhub launched it with comes from the ledger
and is added by the caller, never guessed from the platform's answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runhub.state import RunStatus

#: The log streams a backend may offer.
STREAMS = ("stdout", "stderr")


@dataclass(frozen=True)
class RunDetail:
    """The platform's account of one run."""

    status: RunStatus
    pipeline: str | None = None
    #: Named (mapping) or ordered (list) parameters, as the platform reports them.
    parameters: Any = None
    #: One mapping per input: ``source`` (data id/path), and ``path``/``input`` when known.
    inputs: list[dict[str, Any]] = field(default_factory=list)
    storage: str | None = None
    tags: Any = None
    #: The run's page in the platform's web interface, where there is one.
    url: str | None = None
    #: Anything else the platform says that is worth showing (short values only).
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable shape (``runhub show -o json``)."""
        return {
            "status": self.status.to_dict(),
            "pipeline": self.pipeline,
            "parameters": self.parameters,
            "inputs": self.inputs,
            "storage": self.storage,
            "tags": self.tags,
            "url": self.url,
            "extra": self.extra,
        }


@dataclass(frozen=True)
class LogText:
    """A run's log of one stream, as far as the platform has it now.

    ``complete`` is True once nothing more will be added (the run has ended and
    every part of its log is available); ``logs --follow`` reads again until then.
    ``parts`` names where the text came from (ICA: one entry per analysis step).
    """

    stream: str
    text: str
    complete: bool
    parts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with a stable shape (``runhub logs -o json``)."""
        return {
            "stream": self.stream,
            "text": self.text,
            "complete": self.complete,
            "parts": self.parts,
        }


__all__ = ["STREAMS", "LogText", "RunDetail"]
