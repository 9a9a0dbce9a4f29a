"""Before a batch sends rows its ledger never sent: does the platform hold runs of
the batch that the ledger does not know?

Each backend that can tell (``Backend.batch_keys``; ICA by the batch's technical
tag) lists the launch keys it holds for the batch; a key the ledger never sent
means the ledger lost it (or another ledger launched it). Then nothing is sent:
:class:`~runhub.errors.LedgerLost`, or with ``adopt`` those rows are marked
attempted so each launch finds its run by its key first. The platform is asked
before the ledger is read, so a key sent meanwhile by a process sharing the ledger
(which records every send before it) is always known. If the platform cannot be
asked, the rows that needed the answer are not sent: each gets that error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from runhub.errors import LedgerLost, RunhubError

if TYPE_CHECKING:
    from runhub.backend import Backend, Operation
    from runhub.ledger import Launch, Ledger
    from runhub.spec import RunSpec

Runner = Callable[["Backend", Callable[[], "Operation[Any]"]], Awaitable[Any]]


async def check_batch(
    run: Runner,
    ledger: Ledger,
    prepared: Sequence[tuple[Backend, RunSpec]],
    records: list[Launch],
    batch: str,
    *,
    adopt: bool,
) -> tuple[list[Launch], dict[int, RunhubError]]:
    """The rows (re-read if some were adopted), and the rows that must not be sent
    because their platform could not be asked, with its error."""
    fresh: dict[str, list[int]] = {}
    for index, ((chosen, _), record) in enumerate(zip(prepared, records, strict=True)):
        if record.ref is None and record.attempted_at is None:
            fresh.setdefault(chosen.name, []).append(index)
    adopted: list[str] = []
    blocked: dict[int, RunhubError] = {}
    for indexes in fresh.values():
        chosen = prepared[indexes[0]][0]
        specs = [prepared[i][1] for i in indexes]
        try:
            held = await run(chosen, partial(chosen.batch_keys, batch, specs))
        except RunhubError as error:
            blocked.update(dict.fromkeys(indexes, error))
            continue
        if not held:
            continue
        unknown = set(held) - ledger.known_keys(batch)  # read after the platform
        if adopt:
            mine = {r.key for r in records if r.backend == chosen.name} & unknown
            adopted += sorted(mine)
            unknown -= mine
        if unknown:
            raise LedgerLost(_lost_message(ledger, chosen.name, batch, len(unknown), adopt))
    if adopted:
        ledger.adopt(adopted)
        records = [ledger.get(r.key) or r for r in records]
    return records, blocked


def _lost_message(ledger: Ledger, backend: str, batch: str, count: int, adopt: bool) -> str:
    runs = f"{count} run{'s' if count != 1 else ''}"
    if adopt:
        return (
            f"batch {batch}: {backend} holds {runs} of this batch whose launch keys no row of "
            "it has (launched from another samplesheet, or by an older runhub); nothing was "
            "launched. Restore the ledger that launched them"
        )
    return (
        f"batch {batch}: {backend} holds {runs} of this batch that ledger {ledger.location} "
        "does not know (it was lost, replaced or restored from an older copy, or the batch "
        "was launched with another ledger); launching now could start them a second time, "
        "so nothing was launched. Restore the ledger, or re-run with --adopt "
        "(launch_many(adopt=True)) to take those runs for their rows"
    )
