"""Samplesheet batches: one RunSpec per row of a CSV/TSV, from a spec template.

``{column}`` placeholders in any string of the template are filled from the row.
Filling is plain text substitution: a placeholder can only ever reach the row's
own cell values (no attribute access, no format specs, nothing evaluated);
``{{`` and ``}}`` stand for literal braces.

Every row is checked before anything launches, and every problem is reported
with its row number (the line number a spreadsheet shows, header = row 1).

The batch id is derived from the template, the overrides, the backend and the
samplesheet's location, and each row's key from the spec it produces, so running
the same command again resumes the same batch: rows already launched are
re-attached, and only new or unlaunched rows are launched.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runhub.errors import SpecError
from runhub.spec import RunSpec, read_spec_data, set_dotted

_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


class BatchError(SpecError):
    """Problems found in a samplesheet or its rows; nothing was launched."""

    def __init__(self, problems: list[str], *, file: str) -> None:
        self.problems = problems
        count = len(problems)
        head = f"{count} problem{'s' if count != 1 else ''} in the batch; nothing was launched"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in problems), file=file)


@dataclass(frozen=True)
class Samplesheet:
    """The header and data rows of a CSV/TSV file."""

    path: Path
    columns: list[str]
    #: (row number as a spreadsheet shows it, {column: cell})
    rows: list[tuple[int, dict[str, str]]]
    #: Problems found while reading (a ragged row, a repeated column): reported by
    #: :func:`plan` together with every other row's, so none hides the others.
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BatchItem:
    """One row's run."""

    row: int
    row_key: str
    spec: RunSpec
    cells: dict[str, str]


@dataclass(frozen=True)
class BatchPlan:
    """Every run of a batch, validated."""

    batch_id: str
    items: list[BatchItem]


#: Files that are spreadsheets, not text: their first bytes (zip: xlsx/ods; OLE2: xls).
_WORKBOOKS = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0")
_WORKBOOK_HINT = "save it as CSV (in Excel: File > Save As > CSV UTF-8) or as tab-separated text"


def read_samplesheet(path: str | Path) -> Samplesheet:
    """Read a CSV (``.csv``) or TSV (``.tsv``/``.txt``) samplesheet with a header row.

    Quoted cells may hold newlines and delimiters. Problems of single rows are kept
    in :attr:`Samplesheet.problems`; a file that cannot be read as a table at all
    raises SpecError naming it."""
    path = Path(path)
    label = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpecError("no such samplesheet", file=label) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", file=label) from None
    if raw.startswith(_WORKBOOKS) or path.suffix.lower() in (".xlsx", ".xls", ".xlsm", ".ods"):
        raise SpecError(
            "a spreadsheet workbook, not a CSV/TSV file", file=label, hint=_WORKBOOK_HINT
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SpecError(
            f"not UTF-8 text (byte {exc.start})", file=label, hint="save the samplesheet as UTF-8"
        ) from None
    if not text.strip():
        raise SpecError(
            "the samplesheet is empty", hint="add a header row and one row per run", file=label
        )
    first = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".txt") else _sniff(first)
    # the whole text to the csv reader: a newline inside a quoted cell stays in it
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records = _records(reader, label)
    header = [h.strip() for h in next(records)[1]]
    problems = []
    if len(header) == 1 and ";" in header[0]:
        raise SpecError(
            f"the header is one column, {header[0][:60]!r}: this file is ';'-separated",
            file=label,
            hint="save it as comma-separated CSV (or tab-separated .tsv); a spreadsheet"
            " set to a European locale writes ';' unless told otherwise",
        )
    if any(not h for h in header):
        problems.append("row 1: the header has an empty column name")
    for name, count in Counter(header).items():
        if name and count > 1:
            problems.append(f"row 1: column {name!r} appears {count} times")
    rows: list[tuple[int, dict[str, str]]] = []
    for number, cells in records:
        if not any(c.strip() for c in cells):
            continue  # blank line
        if len(cells) != len(header):
            problems.append(f"row {number}: {len(cells)} cells, but the header has {len(header)}")
            continue
        rows.append((number, {h: c.strip() for h, c in zip(header, cells, strict=True)}))
    if not rows and not problems:
        problems.append("no data rows after the header")
    if problems and not rows:
        raise BatchError(problems, file=label)
    return Samplesheet(path, header, rows, problems)


def _records(reader: Any, label: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for each record; a cell too large for a samplesheet is
    one SpecError naming its row."""
    number = 0
    while True:
        number += 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise SpecError(
                    f"row {number}: a cell is larger than {csv.field_size_limit() // 1024} KiB",
                    file=label,
                    hint="a samplesheet cell holds a name, a path or a value; put file"
                    " contents in a file and name its path",
                ) from None
            raise SpecError(f"row {number}: not valid CSV ({exc})", file=label) from None
        yield number, cells


def _sniff(first_line: str) -> str:
    return "\t" if first_line.count("\t") > first_line.count(",") else ","


def placeholders(template: Any) -> set[str]:
    """Every placeholder name used anywhere in the template."""
    found: set[str] = set()

    def visit(text: str) -> str:
        for match in _PLACEHOLDER.finditer(text):
            if match.group(1) is not None:
                found.add(match.group(1).strip())
        return text

    _walk(template, visit)
    return found


def fill(template: Any, cells: Mapping[str, str]) -> Any:
    """A copy of ``template`` with ``{column}`` replaced by the row's cells."""

    def substitute(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            token = match.group(0)
            if token == "{{":
                return "{"
            if token == "}}":
                return "}"
            return cells[match.group(1).strip()]

        return _PLACEHOLDER.sub(one, text)

    return _walk(template, substitute)  # builds new containers: no copy needed


def _walk(node: Any, visit: Callable[[str], str]) -> Any:
    if isinstance(node, str):
        return visit(node)
    if isinstance(node, dict):
        return {_walk(k, visit): _walk(v, visit) for k, v in node.items()}
    if isinstance(node, list):
        return [_walk(item, visit) for item in node]
    return node


def plan(
    template: Mapping[str, Any],
    sheet: Samplesheet,
    *,
    template_label: str,
    overrides: Mapping[str, Any] | None = None,
    backend: str | None = None,
    validate: Callable[[RunSpec], None] | None = None,
    batch_id: str | None = None,
) -> BatchPlan:
    """Build and check every row's spec; raises :class:`BatchError` listing every problem.

    ``validate`` is the backend's offline check, applied to each row's spec.
    """
    label = str(sheet.path)
    data = dict(template)
    for dotted, value in (overrides or {}).items():
        set_dotted(data, dotted, value)
    used = placeholders(data)
    missing = sorted(used - set(sheet.columns))
    if missing:
        known = ", ".join(sheet.columns)
        raise BatchError(
            [
                *sheet.problems,
                *(
                    f"{template_label}: placeholder {{{m}}} names no column (columns: {known})"
                    for m in missing
                ),
            ],
            file=label,
        )
    problems: list[str] = list(sheet.problems)
    items: list[BatchItem] = []
    names: dict[str, int] = {}
    seen: Counter[str] = Counter()
    for number, cells in sheet.rows:
        empty = sorted(c for c in used if not cells[c])
        if empty:
            problems.extend(f"row {number}: column {c!r} is empty" for c in empty)
            continue
        try:
            spec = RunSpec.from_data(fill(data, cells))
            if validate is not None:
                validate(spec)
        except SpecError as error:
            problems.append(f"row {number}: {error}")
            continue
        except Exception as error:  # a backend's check must not hide the other rows
            problems.append(f"row {number}: {error}")
            continue
        if spec.name:
            if spec.name in names:
                problems.append(
                    f"row {number}: run name {spec.name!r} repeats row {names[spec.name]}"
                )
                continue
            names[spec.name] = number
        digest = spec.digest()
        seen[digest] += 1
        row_key = digest if seen[digest] == 1 else f"{digest}#{seen[digest]}"
        items.append(BatchItem(number, row_key, spec, cells))
    if problems:
        raise BatchError(problems, file=label)
    return BatchPlan(batch_id or derive_batch_id(data, sheet.path, backend), items)


def derive_batch_id(template: Mapping[str, Any], samplesheet: Path, backend: str | None) -> str:
    """A stable id for (template after overrides, samplesheet location, backend)."""
    canonical = json.dumps(
        {"t": template, "s": str(samplesheet.resolve()), "b": backend}, sort_keys=True, default=str
    )
    return "b-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def load_template(path: str | Path) -> dict[str, Any]:
    """Read a spec template (YAML/JSON) without validating it: placeholders may
    stand where the model wants other types until rows fill them."""
    data = read_spec_data(path)
    if not isinstance(data, dict):
        raise SpecError("a run spec must be a mapping", file=str(path))
    return data
