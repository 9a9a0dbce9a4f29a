"""Advancing chains: launch the steps that are due, mark the ones that never will be.

One pass reads the chain from the ledger (its definition, its rows, every step's
launch row and recorded state) and, for each row without a verdict, walks the
steps in order: a step whose ``after`` steps all have an outcome is launched if
its ``when`` holds (``succeeded``: all of them succeeded; ``failed``: one of them
failed; ``always``), else marked skipped; a row whose steps all have an outcome
gets its verdict. Nothing here polls: states come from the ledger's status cache
(``Store.observe``), written by whoever heard last — the polling runner
(:mod:`runhub.chain.runner`) or an event consumer (:mod:`runhub.events`).

Exactly once, on every path: a step's launch is ``AsyncClient.launch`` with batch
``<chain id>`` and row key ``<row>/<step>``, so its launch key is derived
(:func:`runhub.ledger.launch_key`), its row is claimed before it is sent, and a
second advancer — another process, another host, a re-run after kill -9 — finds
the row and re-attaches instead of sending it again. Marks keep their first
value, so advancers racing on one chain agree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from runhub.chain import progress
from runhub.chain.data import NoMatch, feed, place_for
from runhub.chain.validate import Chain, Step, build, order
from runhub.errors import AmbiguousLaunch, LedgerError, NotFound, RunhubError, TransportError
from runhub.ledger.records import TERMINAL, VERDICT, ChainMark, ChainRecord
from runhub.spec import RunSpec

if TYPE_CHECKING:
    from runhub.aio import AsyncClient
    from runhub.chain.progress import ChainView, RowView
    from runhub.ledger import Ledger
    from runhub.ref import RunRef

#: Rows advanced at once (each launches its due steps one after another).
ROWS_AT_ONCE = 16
#: Errors a later pass may get past: nothing is marked for them.
TRANSIENT = (TransportError, AmbiguousLaunch, LedgerError)


async def advance_chains(client: AsyncClient, refs: Sequence[str]) -> None:
    """Advance the chains the runs ``refs`` are steps of, for each run whose
    recorded state (the ledger's status cache) is terminal: launch the steps now
    due, exactly once, and record skipped steps and verdicts. Refs that are no
    chain's step, or not terminal yet, are ignored. For event consumers: record
    the states first (``Ledger.observe``), then call this. A step that could not
    be launched for a transient reason (a lost network) raises
    :class:`~runhub.errors.TransportError` after every chain was advanced, so the
    event is delivered again; calling again is always safe."""
    ledger = client.ledger
    if ledger is None:
        return
    due: dict[str, set[str]] = {}
    for ref in refs:
        launch = ledger.by_ref(str(ref))
        if launch is None or launch.batch is None or launch.state not in TERMINAL:
            continue
        row, sep, _step = (launch.row_key or "").rpartition("/")
        if sep and (launch.batch in due or ledger.chain(launch.batch) is not None):
            due.setdefault(launch.batch, set()).add(row)
    problems: list[str] = []
    for chain, rows in due.items():
        after = await advance(client, chain, rows=rows)
        problems += [f"chain {chain}: {p}" for p in after.problems]
    if problems:
        # Nothing was marked for them: an event consumer keeps the message, and its
        # redelivery (or the polling safety net) advances the chain again.
        raise TransportError("; ".join(problems))


def chain_record(ledger: Ledger, chain: str) -> ChainRecord:
    """The chain in the ledger, or NotFound saying where it looked."""
    record = ledger.chain(chain)
    if record is None:
        raise NotFound(
            f"no chain {chain!r} in the ledger {ledger.location}",
            hint="the id is printed by 'runhub chain run'",
        )
    return record


def current(ledger: Ledger, chain: str, problems: Sequence[str] = ()) -> ChainView:
    """The chain as the ledger has it now."""
    record = chain_record(ledger, chain)
    return progress.view(record, steps_in_order(record), ledger.batch(chain), problems)


def steps_in_order(record: ChainRecord) -> list[str]:
    """The chain's step names, each after the steps it depends on."""
    steps: dict[str, Any] = record.definition.get("steps", {})
    from runhub.chain.model import shape_problems

    shape, _ = shape_problems(record.definition)
    return order(shape.steps) if shape is not None else list(steps)


async def advance(client: AsyncClient, chain: str, *, rows: set[str] | None = None) -> ChainView:
    """One pass over the chain (``rows``: only these); the chain after it."""
    ledger = client.ledger
    if ledger is None:
        raise LedgerError("chains need a ledger (a client made with ledger=False has none)")
    before = current(ledger, chain)
    record = chain_record(ledger, chain)
    problems: list[str] = []
    gate = asyncio.Semaphore(ROWS_AT_ONCE)

    async def one(row: RowView) -> None:
        async with gate:
            marks = await _advance_row(client, ledger, record, row, problems)
            ledger.mark_chain(chain, marks)

    todo = [r for r in before.rows if r.verdict is None and (rows is None or r.row in rows)]
    await asyncio.gather(*(one(r) for r in todo))
    after = current(ledger, chain, problems)
    verdicts = [
        ChainMark(r.row, VERDICT, progress.worst(s.outcome for s in r.steps))
        for r in after.rows
        if r.verdict is None and all(s.outcome is not None for s in r.steps)
    ]
    if verdicts:
        ledger.mark_chain(chain, verdicts)
        after = current(ledger, chain, problems)
    return after


async def _advance_row(
    client: AsyncClient,
    ledger: Ledger,
    record: ChainRecord,
    row: RowView,
    problems: list[str],
) -> list[ChainMark]:
    """Launch this row's due steps and return the marks of the others."""
    built: Chain | None = None
    outcomes = {s.step: s.outcome for s in row.steps}
    refs = {s.step: s.launch.run_ref() for s in row.steps if s.launch is not None and s.ref}
    marks: list[ChainMark] = []
    for view in row.steps:
        if view.state not in (progress.WAITING, progress.LAUNCHING):
            continue
        if built is None:
            built = build(
                record.definition,
                row.row,
                row.cells,
                backend_of=client.backend,
                default_backend=str(record.definition.get("backend") or client.backend_name()),
            )
        step = built.steps[view.step]
        if view.state == progress.WAITING:
            decided = [outcomes.get(d) for d in step.after]
            if any(o is None for o in decided):
                continue
            skip = _skip_reason(step, dict(zip(step.after, decided, strict=True)))
            if skip is not None:
                marks.append(ChainMark(row.row, step.name, progress.SKIPPED, skip))
                outcomes[step.name] = "skipped"
                continue
        # Due (or begun by an earlier pass that was interrupted): launch, exactly once.
        if _cancelled(ledger, record.id, row.row):
            break
        try:
            status, failed = await _launch(client, record, built, step, refs)
        except TRANSIENT as exc:
            if isinstance(exc, LedgerError):
                raise
            problems.append(f"row {row.row} step {step.name}: {exc} (tried again on the next pass)")
            continue
        if failed is not None:
            marks.append(ChainMark(row.row, step.name, progress.NOT_LAUNCHED, failed))
            outcomes[step.name] = "failed"
            continue
        assert status is not None
        refs[step.name] = status.ref
        outcomes[step.name] = progress.StepView(row.row, step.name, status.state.value).outcome
    return marks


def _skip_reason(step: Step, outcomes: dict[str, str | None]) -> str | None:
    """Why a step whose ``after`` steps have all ended does not run (None: it runs)."""
    if step.when == "always":
        return None
    if step.when == "failed":
        if any(o == "failed" for o in outcomes.values()):
            return None
        return "none of the steps it follows failed (when: failed)"
    others = [f"{name} {o}" for name, o in outcomes.items() if o != "succeeded"]
    if not others:
        return None
    return f"not every step it follows succeeded ({', '.join(others)})"


def _cancelled(ledger: Ledger, chain: str, row: str) -> bool:
    """The row was given a verdict meanwhile (``runhub chain cancel``): launch no more."""
    record = ledger.chain(chain)
    return record is not None and record.verdict(row) is not None


async def _launch(
    client: AsyncClient,
    record: ChainRecord,
    chain: Chain,
    step: Step,
    refs: dict[str, RunRef | None],
) -> tuple[Any, str | None]:
    """Feed the step's inputs and launch it: (status, None), or (None, why it
    failed to launch). Transient errors are raised for a later pass."""
    from runhub.config import runhub_home

    data = step.spec.to_data()
    mounts: list[Any] = list(data.get("mounts", []))
    # Fed parameters are named (validation refused them for ordered parameters).
    parameters: Any = data.get("parameters")
    for index, item in enumerate(step.inputs):
        source = refs.get(item.source.step)
        if source is None:
            return None, f"step {item.source.step!r} has no run to take outputs from"
        label = f"{record.id} {chain.row} {item.source.step}"
        place = place_for(runhub_home(), record.id, chain.row, step.name, index)
        try:
            fed = await feed(client, item, step.routes[index], source, place=place, label=label)
        except NoMatch as exc:
            return None, str(exc)
        except TRANSIENT:
            raise
        except RunhubError as exc:
            return None, f"inputs[{index}]: {exc}"
        mounts.extend(fed.mounts)
        if fed.parameter is not None:
            parameters = {**(parameters or {}), fed.parameter[0]: fed.parameter[1]}
    if mounts:
        data["mounts"] = mounts
    if parameters is not None:
        data["parameters"] = parameters
    try:
        spec = RunSpec.from_data(data)
        status = await client.launch(
            spec, step.backend, batch=record.id, row_key=progress.row_key(chain.row, step.name)
        )
    except TRANSIENT:
        raise
    except RunhubError as exc:
        return None, str(exc)
    return status, None


__all__ = ["advance", "advance_chains", "chain_record", "current"]
