"""Running a chain by polling: start it, advance it, follow it; its status; cancel.

:func:`start` checks the chain for every row (nothing runs if anything is wrong)
and records it in the ledger; :func:`follow` then advances it pass after pass
(:func:`runhub.chain.advance.advance`, the same logic an event consumer calls)
until every row has its verdict. Between passes it polls only the runs whose
state the ledger has not heard of for ``poll_interval`` seconds: where events
flow (``runhub events consume``), the ledger is fresh and polling is the safety
net that turns a lost notification into a delay, never a stall.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from runhub.chain import progress
from runhub.chain.advance import advance, current
from runhub.chain.validate import ChainPlan, plan, read_definition, read_rows
from runhub.errors import ConfigError, RunhubError, SpecError
from runhub.ledger.records import VERDICT, ChainMark

if TYPE_CHECKING:
    from runhub.aio import AsyncClient
    from runhub.chain.progress import ChainView
    from runhub.ledger import Ledger

#: Seconds without news of a run after which a followed chain polls it.
POLL_INTERVAL = 30.0
POLL_ENV = "RUNHUB_CHAIN_POLL_INTERVAL"
#: The longest pause between two passes over the ledger (cheap reads, no request).
TICK = 1.0


def poll_interval(explicit: float | None = None, profile: dict[str, object] | None = None) -> float:
    """``chain.poll_interval``: the argument, else ``RUNHUB_CHAIN_POLL_INTERVAL``,
    else the profile's ``[<profile>.chain] poll_interval``, else 30 s."""
    if explicit is not None:
        return explicit
    text = os.environ.get(POLL_ENV)
    table = (profile or {}).get("chain")
    value: object = (
        text if text else (table.get("poll_interval") if isinstance(table, dict) else None)
    )
    if value is None:
        return POLL_INTERVAL
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(
            f"chain poll interval {value!r} is not a number of seconds",
            hint=f"set {POLL_ENV} or chain.poll_interval to e.g. 30",
        ) from None
    if seconds <= 0:
        raise ConfigError(f"chain poll interval must be above 0 s, got {seconds:g}")
    return seconds


def prepare(
    client: AsyncClient,
    chain_file: str | Path,
    samplesheet: str | Path | None = None,
    *,
    backend: str | None = None,
    chain_id: str | None = None,
) -> ChainPlan:
    """Check the chain for every row (offline: model, references, cycles, each
    backend's rules, where data can move); :class:`~runhub.chain.ChainError`
    lists every problem. Nothing is recorded or launched."""
    definition = read_definition(chain_file)
    # Recorded with the chain: whoever advances it later (another host) needs no profile.
    named = definition.get("backend")
    default = backend or (named if isinstance(named, str) and named else client.backend_name())
    definition["backend"] = default
    rows = read_rows(samplesheet)

    return plan(
        definition,
        rows,
        label=str(chain_file),
        backend_of=client.backend,
        default_backend=default,
        validate=client.validate,
        chain=chain_id,
    )


def record(ledger: Ledger, checked: ChainPlan) -> None:
    """Keep the chain in the ledger (once: a re-run finds it as it was). An id
    already naming another chain (``--id`` reused) is a SpecError."""
    ledger.keep_chain(checked.id, checked.definition, checked.rows)
    kept = ledger.chain(checked.id)
    rows = [(row, dict(cells)) for row, cells in checked.rows]
    if kept is None or kept.definition != checked.definition or kept.rows != rows:
        raise SpecError(
            f"chain id {checked.id!r} already names another chain in the ledger"
            f" {ledger.location}; nothing was launched",
            hint="use a new id, or leave --id out to derive one from the chain",
        )


async def follow(
    client: AsyncClient,
    chain: str,
    *,
    wait: bool = True,
    poll: float | None = None,
    on_view: Callable[[ChainView], None] | None = None,
    tick: float = TICK,
) -> ChainView:
    """Advance ``chain`` until every row has its verdict (``wait``), or once."""
    interval = poll_interval(poll, client._profile())
    shown = await advance(client, chain)
    if on_view is not None:
        on_view(shown)
    while wait and not shown.finished:
        await asyncio.sleep(min(tick, interval))
        problems = await _poll_stale(client, shown, interval)
        shown = await advance(client, chain)
        if problems:
            shown = current(_ledger(client), chain, [*shown.problems, *problems])
        if on_view is not None:
            on_view(shown)
    return shown


async def _poll_stale(client: AsyncClient, shown: ChainView, interval: float) -> list[str]:
    """Ask the platform about runs the ledger has not heard of for ``interval``."""
    limit = time.time() - interval
    stale = [
        s.launch.run_ref()
        for s in progress.unfinished_runs(shown)
        if s.launch is not None and s.launch.updated_at < limit
    ]
    refs = [r for r in stale if r is not None]
    if not refs:
        return []
    try:
        await client.statuses(refs)  # recorded in the ledger's status cache
    except RunhubError as exc:
        return [f"polling {len(refs)} run(s): {exc} (tried again)"]
    return []


async def status(client: AsyncClient, chain: str, *, refresh: bool = True) -> ChainView:
    """The chain as the ledger has it, unfinished runs asked afresh (``refresh``).
    Nothing is launched: ``runhub chain run`` or an event consumer advances it."""
    ledger = _ledger(client)
    shown = current(ledger, chain)
    refs = [s.launch.run_ref() for s in progress.unfinished_runs(shown) if s.launch is not None]
    if refresh and refs:
        try:
            await client.statuses([r for r in refs if r is not None])
        except RunhubError as exc:
            return current(ledger, chain, [f"asking {len(refs)} run(s): {exc}"])
        shown = current(ledger, chain)
    return shown


async def cancel(client: AsyncClient, chain: str) -> ChainView:
    """Stop the chain: every row without a verdict is marked cancelled first (so
    no advancer launches more), its unfinished runs are cancelled, and its steps
    not launched are marked skipped."""
    ledger = _ledger(client)
    shown = current(ledger, chain)
    open_rows = [r for r in shown.rows if r.verdict is None]
    ledger.mark_chain(chain, [ChainMark(r.row, VERDICT, "cancelled") for r in open_rows])
    problems = []
    for row in open_rows:
        for step in row.steps:
            if step.ref is not None and step.outcome is None:
                try:
                    await client.cancel(step.ref)
                except RunhubError as exc:
                    problems.append(f"row {row.row} step {step.step}: {exc}")
    marks = [
        ChainMark(r.row, s.step, progress.SKIPPED, "the chain was cancelled")
        for r in open_rows
        for s in r.steps
        if s.ref is None and s.outcome is None
    ]
    ledger.mark_chain(chain, marks)
    return current(ledger, chain, problems)


def _ledger(client: AsyncClient) -> Ledger:
    ledger = client.ledger
    if ledger is None:
        raise ConfigError("chains need a ledger (a client made with ledger=False has none)")
    return ledger


__all__ = [
    "POLL_ENV",
    "POLL_INTERVAL",
    "cancel",
    "follow",
    "poll_interval",
    "prepare",
    "record",
    "status",
]
