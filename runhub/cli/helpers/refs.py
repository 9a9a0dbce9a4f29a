"""Which runs a command acts on: REF arguments and ``--batch ID``, with the
polling-group hint the ledger keeps for each run."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from runhub.backend import RunRef
    from runhub.ledger import Ledger


def parse_refs(texts: tuple[str, ...], ledger: Ledger) -> list[RunRef]:
    """Run references from the command line, with their polling-group hint when
    ``ledger`` (the invocation's: ``--profile`` chooses it) knows it, so runs of one
    batch are polled with one request per page."""
    from runhub.backend import RunRef

    refs = []
    for text in texts:
        ref = RunRef.parse(expand(ledger, text) if ELLIPSIS in text else text)
        record = ledger.by_ref(str(ref))
        known = record.run_ref() if record is not None else None
        refs.append(known or ref)
    return refs


#: What a shortened ref in a table stands in for (see helpers/fit.py).
ELLIPSIS = "…"


def expand(ledger: Ledger, text: str) -> str:
    """The whole ref a shortened one (``ica:…/1870cb39-…``, as tables print them)
    stands for, looked up in the ledger; ConfigError unless exactly one matches."""
    import re

    from runhub.errors import ConfigError

    pattern = re.compile(".*".join(re.escape(p) for p in text.strip().split(ELLIPSIS)) + "$")
    backend = text.partition(":")[0]
    found = sorted(
        {r.ref for r in ledger.runs(backend=backend, limit=None) if r.ref and pattern.match(r.ref)}
    )
    if len(found) != 1:
        what = "no run" if not found else f"{len(found)} runs"
        raise ConfigError(
            f"{text!r} is a shortened ref and {what} in the ledger match it",
            hint="paste the whole ref (`--wide` or `-o json` show refs whole)",
        )
    return found[0]


def batch_refs(batch: str, ledger: Ledger) -> list[RunRef]:
    """The latest launched attempt of every row of a batch, from ``ledger``
    (ConfigError if none); earlier attempts (``--retry-failed``) are kept but skipped."""
    from runhub.errors import ConfigError
    from runhub.ledger import attempt_of, row_family

    latest: dict[str, tuple[int, RunRef]] = {}
    for rec in ledger.batch(batch):
        ref = rec.run_ref()
        if ref is None:
            continue
        family = row_family(rec.row_key) if rec.row_key else rec.key
        number = attempt_of(rec.row_key)
        if family not in latest or number > latest[family][0]:
            latest[family] = (number, ref)
    refs = [ref for _, ref in latest.values()]
    if not refs:
        raise ConfigError(
            f"no launched runs recorded for batch {batch!r}", hint="see `runhub runs` for batches"
        )
    return refs


def chosen(refs: tuple[str, ...], batch: str | None, ledger: Ledger) -> list[RunRef]:
    """The runs REF arguments and ``--batch ID`` name, looked up in ``ledger``."""
    if not refs and not batch:
        raise click.UsageError("name at least one REF, or --batch ID")
    return parse_refs(refs, ledger) + (batch_refs(batch, ledger) if batch else [])
