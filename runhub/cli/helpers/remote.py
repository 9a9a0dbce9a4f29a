"""``runs --remote``: the platform's own runs, in the ledger's table.

The platform lists its runs however they were started (its web interface,
another machine, another tool); the ledger adds what it knows of the ones
launched here (batch), and the REF column is the same pasteable ref.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runhub.client import Client
    from runhub.ledger import Ledger
    from runhub.state import RunStatus


def remote_runs(client: Client, backend: str, target: str | None, limit: int) -> list[RunStatus]:
    """The runs ``backend`` lists (Unsupported if it cannot)."""
    from runhub.errors import Unsupported

    chosen = client.backend(backend)
    if not chosen.capabilities.remote_runs:
        raise Unsupported(
            f"the {backend} backend has no platform runs to list",
            hint="--remote lists the runs of a platform: --backend ica or --backend codeocean",
        )
    return client.driver(chosen).run(chosen.list_runs(target=target, limit=limit or 1000))


def rows(ledger: Ledger, statuses: list[RunStatus]) -> list[dict[str, Any]]:
    """One JSON-ready row per run: the platform's status and the ledger's batch."""
    from runhub.cli.helpers import render

    found = []
    for s in statuses:
        record = ledger.by_ref(str(s.ref))
        found.append(
            {
                "ref": str(s.ref),
                "name": s.name,
                "backend": s.ref.backend,
                "batch": record.batch if record else None,
                "state": s.state.value,
                "native": s.native,
                "created": render.when(s.created),
                "in_ledger": record is not None,
            }
        )
    return found


__all__ = ["remote_runs", "rows"]
