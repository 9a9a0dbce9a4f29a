"""Checking a chain before anything runs, and planning its steps per row.

Every problem is collected and reported together with its path
(``steps.call.after[0]: no step named 'algin' (steps: align, call)``): unknown
steps, cycles, a ``when`` without ``after``, specs that are not valid for their
backend, and outputs that cannot move between two steps' backends
(:func:`runhub.chain.data.route`). A chain with any problem launches nothing.

The chain id is derived from the chain's content (spec files inlined) and the
samplesheet's rows, so running the same command again resumes the same chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runhub.batch import fill, placeholders, read_samplesheet
from runhub.chain.data import Route, route
from runhub.chain.model import STEP_NAME, ChainShape, StepInput, When, shape_problems
from runhub.errors import RunhubError, SpecError
from runhub.spec import RunSpec, read_spec_data

if TYPE_CHECKING:
    from runhub.backend import Backend

#: The row key of a chain run without a samplesheet.
SINGLE_ROW = "1"


class ChainError(SpecError):
    """Problems found in a chain file (or its rows); nothing was launched."""

    def __init__(self, problems: list[str], *, file: str) -> None:
        self.problems = problems
        if len(problems) == 1:
            super().__init__(problems[0], file=file)
            return
        head = f"{len(problems)} problems in the chain; nothing was launched"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in problems), file=file)


@dataclass(frozen=True)
class Step:
    """One step of one row's chain, checked."""

    name: str
    spec: RunSpec
    backend: str
    #: Every step this one waits for: ``after`` and the steps its inputs come from.
    after: tuple[str, ...]
    when: When
    inputs: tuple[StepInput, ...]
    routes: tuple[Route, ...]


@dataclass(frozen=True)
class Chain:
    """One row's chain: its steps in an order where each comes after its ``after``."""

    row: str
    cells: dict[str, str]
    steps: dict[str, Step]


@dataclass(frozen=True)
class ChainPlan:
    """A checked chain: its id, what the ledger keeps, and each row's steps."""

    id: str
    name: str | None
    definition: dict[str, Any]
    rows: list[tuple[str, dict[str, str]]]
    chains: list[Chain]


def read_definition(path: str | Path) -> dict[str, Any]:
    """The chain file's data with each step's spec file read in (relative to the
    chain file), so the definition stands on its own in the ledger."""
    path = Path(path)
    label = str(path)
    data = read_spec_data(path)
    shape, problems = shape_problems(data)
    if shape is None:
        raise ChainError(problems, file=label)
    steps: dict[str, Any] = {}
    for name, raw in data["steps"].items():
        step = dict(raw)
        spec = step["spec"]
        if isinstance(spec, str):
            file = (path.parent / spec) if not Path(spec).is_absolute() else Path(spec)
            try:
                loaded = read_spec_data(file)
            except SpecError as exc:
                problems.append(f"steps.{name}.spec: {exc}")
                continue
            if not isinstance(loaded, dict):
                problems.append(f"steps.{name}.spec: {file}: a run spec must be a mapping")
                continue
            step["spec"] = loaded
        steps[name] = step
    if problems:
        raise ChainError(problems, file=label)
    definition = {k: v for k, v in data.items() if k != "steps"}
    definition["steps"] = steps
    return definition


def read_rows(samplesheet: str | Path | None) -> list[tuple[str, dict[str, str]]]:
    """(row key, cells) per samplesheet row (the row number a spreadsheet shows);
    one row without cells when there is no samplesheet."""
    if samplesheet is None:
        return [(SINGLE_ROW, {})]
    sheet = read_samplesheet(samplesheet)
    if sheet.problems:
        raise ChainError(sheet.problems, file=str(sheet.path))
    return [(str(number), cells) for number, cells in sheet.rows]


def chain_id(definition: Mapping[str, Any], rows: Sequence[tuple[str, dict[str, str]]]) -> str:
    """A stable id for a chain's content and its rows."""
    canonical = json.dumps({"d": definition, "r": rows}, sort_keys=True, default=str)
    return "c-" + hashlib.sha256(canonical.encode()).hexdigest()[:16]


def plan(
    definition: dict[str, Any],
    rows: list[tuple[str, dict[str, str]]],
    *,
    label: str,
    backend_of: Callable[[str], Backend],
    default_backend: str,
    validate: Callable[[RunSpec, str], object] | None = None,
    chain: str | None = None,
) -> ChainPlan:
    """Check the chain for every row; :class:`ChainError` listing every problem.

    ``backend_of`` gives a configured backend by name, ``validate`` a backend's
    offline check of one spec (the client's)."""
    structure = _structure(definition)
    if structure:
        raise ChainError(structure, file=label)
    columns = {c for _, cells in rows for c in cells}
    missing = sorted(placeholders(definition) - columns)
    if missing:
        known = (
            f"columns: {', '.join(sorted(columns))}"
            if columns
            else "there is no samplesheet: give one with --samplesheet"
        )
        raise ChainError(
            [f"placeholder {{{m}}} names no samplesheet column ({known})" for m in missing],
            file=label,
        )
    problems: list[str] = []
    chains: list[Chain] = []
    many = rows != [(SINGLE_ROW, {})]
    for row, cells in rows:
        found, row_problems = _row_chain(
            row, cells, definition, backend_of, default_backend, validate
        )
        prefix = f"row {row}: " if many else ""
        problems.extend(prefix + p for p in row_problems)
        if found is not None:
            chains.append(found)
    if problems:
        raise ChainError(_unique(problems), file=label)
    ident = chain or chain_id(definition, rows)
    name = definition.get("name")
    return ChainPlan(ident, name if isinstance(name, str) else None, definition, rows, chains)


def build(record_definition: dict[str, Any], row: str, cells: dict[str, str], **kw: Any) -> Chain:
    """One row's chain from a stored definition (checked when it was stored)."""
    found, problems = _row_chain(row, cells, record_definition, **kw)
    if found is None:
        raise ChainError(problems, file="chain in the ledger")
    return found


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _structure(definition: dict[str, Any]) -> list[str]:
    """Names, ``after``, ``from`` and cycles: what no row can change."""
    shape, problems = shape_problems(definition)
    if shape is None:
        return problems
    names = list(shape.steps)
    known = ", ".join(names)
    for name, step in shape.steps.items():
        if not STEP_NAME.match(name):
            problems.append(
                f"steps.{name}: a step name is letters, digits, '_', '.' and '-' (at most 64)"
            )
        for index, dep in enumerate(step.after):
            if dep not in shape.steps:
                problems.append(
                    f"steps.{name}.after[{index}]: no step named {dep!r} (steps: {known})"
                )
            elif dep == name:
                problems.append(f"steps.{name}.after[{index}]: a step cannot come after itself")
        for index, item in enumerate(step.inputs):
            dep = item.source.step
            if dep not in shape.steps:
                problems.append(
                    f"steps.{name}.inputs[{index}].from.step: no step named {dep!r}"
                    f" (steps: {known})"
                )
            elif dep == name:
                problems.append(
                    f"steps.{name}.inputs[{index}].from.step: a step cannot take its own outputs"
                )
        if step.when != "succeeded" and not step.after:
            problems.append(
                f"steps.{name}.when: {step.when!r} needs 'after' (the steps whose outcome it"
                " follows)"
            )
    if not problems:
        cycle = _cycle(shape)
        if cycle:
            problems.append(f"steps: a cycle: {' → '.join(cycle)} (a chain must have an end)")
    return problems


def depends_on(shape_steps: Mapping[str, Any], name: str) -> list[str]:
    """``after`` and the steps the inputs come from, in order, once each."""
    step = shape_steps[name]
    return list(dict.fromkeys([*step.after, *(i.source.step for i in step.inputs)]))


def _cycle(shape: ChainShape) -> list[str] | None:
    state: dict[str, int] = {}
    trail: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        trail.append(name)
        for dep in depends_on(shape.steps, name):
            if state.get(dep) == 1:
                return [*trail[trail.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        trail.pop()
        state[name] = 2
        return None

    for name in shape.steps:
        if name not in state:
            found = visit(name)
            if found:
                return list(reversed(found))
    return None


def order(shape_steps: Mapping[str, Any]) -> list[str]:
    """Step names with every step after the steps it depends on (file order kept)."""
    done: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        for dep in depends_on(shape_steps, name):
            visit(dep)
        done.append(name)

    for name in shape_steps:
        visit(name)
    return done


def _row_chain(
    row: str,
    cells: dict[str, str],
    definition: dict[str, Any],
    backend_of: Callable[[str], Backend],
    default_backend: str,
    validate: Callable[[RunSpec, str], object] | None = None,
) -> tuple[Chain | None, list[str]]:
    filled = fill(definition, cells) if cells else definition
    shape, problems = shape_problems(filled)
    if shape is None:
        return None, problems
    fallback = shape.backend or default_backend
    specs: dict[str, RunSpec] = {}
    backends: dict[str, Backend] = {}
    for name, step in shape.steps.items():
        try:
            spec = RunSpec.from_data(step.spec)
        except SpecError as exc:
            problems.append(f"steps.{name}.spec: {exc}")
            continue
        chosen = spec.backend or fallback
        try:
            backends[name] = backend_of(chosen)
        except RunhubError as exc:
            problems.append(f"steps.{name}: backend {chosen!r}: {exc}")
            continue
        specs[name] = spec
        if validate is not None:
            try:
                validate(_with_placeholders(spec, step.inputs), chosen)
            except RunhubError as exc:
                problems.append(f"steps.{name}.spec: {exc}")
    steps: dict[str, Step] = {}
    for name in order(shape.steps):
        step = shape.steps[name]
        if name not in specs:
            continue
        routes: list[Route] = []
        for index, item in enumerate(step.inputs):
            source = backends.get(item.source.step)
            if source is None:
                continue
            into = "mount" if item.mount is not None else "parameter"
            how, why = route(source, backends[name], into)
            if how is None:
                problems.append(f"steps.{name}.inputs[{index}]: {why}")
                continue
            if into == "parameter" and isinstance(specs[name].parameters, list):
                problems.append(
                    f"steps.{name}.inputs[{index}].parameter: the spec's parameters are ordered"
                    " (a list); a parameter fed by name needs named parameters"
                )
            routes.append(how)
        steps[name] = Step(
            name,
            specs[name],
            backends[name].name,
            tuple(depends_on(shape.steps, name)),
            step.when,
            tuple(step.inputs),
            tuple(routes),
        )
    if problems:
        return None, problems
    return Chain(row, cells, steps), []


def _with_placeholders(spec: RunSpec, inputs: Sequence[StepInput]) -> RunSpec:
    """The spec as its backend will see it, with each fed parameter holding a
    stand-in value (mounts fed later are simply absent)."""
    fed = {i.parameter: f"from:{i.source.step}" for i in inputs if i.parameter}
    if not fed or isinstance(spec.parameters, list):
        return spec
    data = spec.to_data()
    data["parameters"] = {**(spec.parameters or {}), **fed}
    return RunSpec.from_data(data)


__all__ = [
    "SINGLE_ROW",
    "Chain",
    "ChainError",
    "ChainPlan",
    "Step",
    "build",
    "chain_id",
    "depends_on",
    "order",
    "plan",
    "read_definition",
    "read_rows",
]
