"""``runhub show``: one run in full: the spec it was launched with (from the ledger)
and what the platform says about it now."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from runhub.cli.helpers import render
from runhub.cli.helpers.session import Session, output_option, pass_session

if TYPE_CHECKING:
    from runhub.detail import RunDetail
    from runhub.ledger import Launch, Ledger, SpecRecord


@click.command()
@click.argument("ref", metavar="REF")
@output_option
@pass_session
def show(session: Session, ref: str, output: str) -> None:
    """Everything about one run: the spec it was launched with (from the ledger),
    and what the platform says: pipeline, parameters, inputs, storage, tags,
    times, exit code and the run's web page where the platform has one.

    Works for runs launched elsewhere too (no ledger part then). Exit 0, or 4 if
    the platform does not know the run (3 refused).

    \b
    Examples:
      runhub show local:20261123T034001-1a2b3c4d
      runhub show ica:0d4f…/60bf… -o json
    """
    from runhub.cli.helpers.refs import parse_refs

    (run,) = parse_refs((ref,), session.ledger())
    client = session.client()
    backend = client.backend(run.backend)
    if backend.capabilities.detail:
        detail = client.driver(backend).run(backend.detail(run))
    else:
        from runhub.detail import RunDetail

        detail = RunDetail(status=client.status(run))
    ledger = client.ledger
    assert ledger is not None
    record = ledger.by_ref(str(run))
    spec = ledger.spec_record(record.key) if record else None
    if output == "json":
        render.echo_json(
            {
                "ref": str(run),
                "ledger": _ledger_part(ledger, record, spec),
                "spec": spec.spec if spec else None,
                "platform": detail.to_dict(),
            }
        )
        return
    click.echo(_text(ledger, detail, record, spec))


def _ledger_part(
    ledger: Ledger, record: Launch | None, spec: SpecRecord | None
) -> dict[str, Any] | None:
    from runhub.ledger import attempt_of

    if record is None:
        return None
    previous = ledger.get(spec.previous) if spec and spec.previous else None
    return {
        "batch": record.batch,
        "row": record.row_key,
        "attempt": attempt_of(record.row_key),
        "key": record.key,
        "launched_at": render.epoch(record.launched_at),
        "previous": previous.ref if previous else None,
        "relaunched_as": [r.ref for r in ledger.relaunches(record.key)],
    }


def _text(ledger: Ledger, detail: RunDetail, record: Launch | None, spec: SpecRecord | None) -> str:
    s = detail.status
    state = s.state.value + (f" ({s.native})" if s.native and s.native != s.state.value else "")
    lines: list[tuple[str, object]] = [
        ("ref", s.ref),
        ("name", s.name),
        ("state", state),
        ("message", render.message(s)),
        ("exit code", s.exit_code),
        ("pipeline", detail.pipeline),
        ("parameters", _plain(detail.parameters)),
        ("storage", detail.storage),
        ("tags", _plain(detail.tags)),
        ("created", render.when(s.created)),
        ("started", render.when(s.started)),
        ("ended", render.when(s.ended)),
        ("web page", detail.url),
    ]
    for key, value in detail.extra.items():
        lines.append((key, _plain(value)))
    part = _ledger_part(ledger, record, spec)
    if part is not None:
        where = f"{part['batch']} (attempt {part['attempt']})" if part["batch"] else None
        lines += [
            ("batch", where),
            ("launched", part["launched_at"]),
            ("relaunch of", part["previous"]),
            ("relaunched as", ", ".join(str(r) for r in part["relaunched_as"]) or None),
        ]
    width = max(len(k) for k, _ in lines) + 2
    out = [f"{k + ':':<{width}}{v}" for k, v in lines if v not in (None, "", [], {})]
    if detail.inputs:
        out.append("inputs:")
        for item in detail.inputs:
            feeds = f"{item.get('input')}: " if item.get("input") else ""
            path = f" -> {item['path']}" if item.get("path") else ""
            out.append(f"  {feeds}{item.get('source')}{path}")
    if spec is not None:
        import yaml

        out.append("spec (as launched, from the ledger):")
        dumped = yaml.safe_dump(spec.spec, sort_keys=False, allow_unicode=True).rstrip()
        out.extend(f"  {line}" for line in dumped.splitlines())
    elif record is None:
        out.append("(not in this machine's ledger: launched elsewhere)")
    return "\n".join(out)


def _plain(value: Any) -> str | None:
    """A parameters/tags value on one line: ``a=1 b=[x, y]``."""
    if value in (None, "", [], {}):
        return None
    if isinstance(value, dict):
        return " ".join(f"{k}={_one(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " ".join(_one(v) for v in value)
    return str(value)


def _one(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_one(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_one(v)}" for k, v in value.items()) + "}"
    return str(value)


COMMANDS = (show,)
