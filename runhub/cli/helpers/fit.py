"""Fitting a table to the terminal: refs shortened to what tells runs apart.

An ICA ref is 78 characters (``ica:<project>/<analysis>``) and every run of a
project shares the first 41. When a table is wider than the terminal, the part of
the refs that every row shares is elided (``ica:…/1870cb39-14df-…``), then the
widest free-text columns (MESSAGE, NAME) are cut with ``…``, then refs are cut
further, never below the length that keeps them distinct. ``--wide`` (and any
output that is not a terminal, unless ``COLUMNS`` is set) keeps every cell
whole; ``-o json`` always does.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence

ELLIPSIS = "…"
#: Columns that may be cut, in the order they are cut.
FLEXIBLE = ("MESSAGE", "ERROR", "NAME", "PATH", "FILE", "BATCH")
#: Columns holding run references.
REFS = ("REF", "PREVIOUS")
#: Columns left out, in this order, when cutting was not enough (``--wide`` shows them).
DROPPABLE = ("NATIVE", "CREATED", "BACKEND", "KIND")
GAP = 2


def limit(wide: bool) -> int | None:
    """The width to fit, or None to keep every cell whole."""
    if wide:
        return None
    if "COLUMNS" in os.environ or sys.stdout.isatty():
        return max(40, shutil.get_terminal_size((100, 24)).columns)
    return None


def fit(
    headers: Sequence[str], cells: list[list[str]], width: int
) -> tuple[list[str], list[list[str]]]:
    """The headers and cells of a table at most ``width`` wide where it can be."""
    headers = list(headers)
    if _width(headers, cells) <= width:
        return headers, cells
    for index, header in enumerate(headers):
        if header in REFS:
            _set(cells, index, shared_elided([row[index] for row in cells]))
    for header in (*FLEXIBLE, *REFS):
        if header not in headers:
            continue
        index = list(headers).index(header)
        over = _width(headers, cells) - width
        if over <= 0:
            break
        column = [row[index] for row in cells]
        widest = max((len(c) for c in column), default=0)
        floor = distinct_length(column) if header in REFS else max(len(header), 12)
        target = max(floor, widest - over)
        _set(cells, index, [cut(c, target) for c in column])
    for header in DROPPABLE:
        if _width(headers, cells) <= width:
            break
        if header in headers:
            index = headers.index(header)
            del headers[index]
            for row in cells:
                del row[index]
    return headers, cells


def shared_elided(refs: Sequence[str]) -> list[str]:
    """Refs with the part every one of them shares (after ``backend:``) replaced by ``…``."""
    real = [r for r in refs if r not in ("-", "")]
    if len(real) < 2:
        return list(refs)
    low, high = min(real), max(real)  # the shortest common prefix is theirs
    shared = next((i for i, (a, b) in enumerate(zip(low, high, strict=False)) if a != b), len(low))
    prefix = low[:shared]
    backend, colon, _ = prefix.partition(":")
    if not colon:
        return list(refs)
    cut_at = prefix.rfind("/") + 1  # elide whole segments only
    if cut_at <= len(backend) + 1:
        return list(refs)
    return [f"{r[: len(backend) + 1]}{ELLIPSIS}/{r[cut_at:]}" if r in real else r for r in refs]


def distinct_length(values: Sequence[str]) -> int:
    """The shortest length at which the values (cut with ``…``) still differ."""
    unique = set(values)
    longest = max((len(v) for v in values), default=0)
    for length in range(12, longest):
        if len({cut(v, length) for v in unique}) == len(unique):
            return length
    return longest


def cut(text: str, length: int) -> str:
    """``text`` at most ``length`` characters, ending in ``…`` when cut."""
    if len(text) <= length:
        return text
    return text[: max(1, length - 1)] + ELLIPSIS


def _set(cells: list[list[str]], index: int, column: list[str]) -> None:
    for row, value in zip(cells, column, strict=True):
        row[index] = value


def _width(headers: Sequence[str], cells: list[list[str]]) -> int:
    widths = [len(h) for h in headers]
    for row in cells:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    return sum(widths) + GAP * (len(widths) - 1)


__all__ = ["cut", "distinct_length", "fit", "limit", "shared_elided"]
