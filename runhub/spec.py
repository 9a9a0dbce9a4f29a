"""RunSpec: the one model every backend reads (DESIGN.md §3).

A spec names a pipeline, its data mounts and its parameters, which are either an
ordered list or a named mapping: the type says which. Every validation problem
becomes a :class:`~runhub.errors.SpecError` naming the file, the field path and the
problem, e.g. ``run.yaml: parameters.threads: expected a scalar or a list, got a mapping``
— also for models built directly (``RunSpec(...)``, ``DataMount(...)``,
``RunSpec.model_validate(...)``): pydantic's ValidationError never reaches a caller.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, Self, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from runhub.errors import SpecError

Scalar: TypeAlias = str | int | float | bool
ParamValue: TypeAlias = Scalar | list[Scalar]
OrderedParameters: TypeAlias = list[Scalar]
NamedParameters: TypeAlias = dict[str, ParamValue]
Parameters: TypeAlias = OrderedParameters | NamedParameters

_SCALARS = (str, int, float, bool)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _fail(problem: str, loc: str = "") -> PydanticCustomError:
    # The location suffix is carried in the context so SpecError can build the path.
    return PydanticCustomError("runhub", problem, {"loc": loc})


def _check_scalar(value: Any, loc: str, what: str = "a scalar (string, number or boolean)") -> None:
    if not isinstance(value, _SCALARS):
        raise _fail(f"expected {what}, got {_kind(value)}", loc)


def _check_parameters(value: Any) -> Any:
    """Ordered (list of scalars) or named (mapping of scalar-or-list); nothing else."""
    if value is None:
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_scalar(item, str(index), "a scalar (ordered parameters are a flat list)")
        return list(value)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise _fail(f"parameter names must be non-empty strings, got {key!r}")
            if isinstance(item, list | tuple):
                for index, element in enumerate(item):
                    _check_scalar(element, f"{key}.{index}")
            else:
                _check_scalar(item, key, "a scalar or a list")
        return dict(value)
    raise _fail(f"expected a list (ordered) or a mapping (named), got {_kind(value)}")


#: How deep inside a model's validation we are (0: not validating).
_DEPTH: ContextVar[int] = ContextVar("runhub_spec_depth", default=0)


class _Model(BaseModel):
    # Infinity stays a float in to_data (pydantic's default would turn it into null).
    model_config = ConfigDict(extra="forbid", frozen=True, ser_json_inf_nan="constants")

    @model_validator(mode="wrap")
    @classmethod
    def _as_spec_error(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """The outermost model turns pydantic's ValidationError into SpecError; a
        nested one (a mount inside a spec) lets it through, so the path is whole."""
        depth = _DEPTH.get()
        token = _DEPTH.set(depth + 1)
        try:
            return handler(data)
        except ValidationError as exc:
            if depth:
                raise
            raise _spec_error(exc, None, root=cls) from None
        finally:
            _DEPTH.reset(token)


class DataMount(_Model):
    """A data mount: ``source`` is a platform data reference or a local path."""

    source: str = Field(min_length=1)
    #: Where the run sees the data (Code Ocean mount, ICA mount path, local data/<path>).
    path: str | None = None
    #: The pipeline input this mount feeds (ICA parameterCode).
    input: str | None = None


class Outputs(_Model):
    """Where results land, on platforms that let the caller choose."""

    path: str = Field(min_length=1)
    on_exist: Literal["overwrite", "rename", "skip"] = "rename"


class RunSpec(_Model):
    """One run of one pipeline, independent of the platform that runs it."""

    pipeline: str = Field(min_length=1)
    backend: str | None = None
    version: int | str | None = None
    name: str | None = None
    mounts: list[DataMount] = Field(default_factory=list)
    parameters: Parameters | None = None
    processes: dict[str, Parameters] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)
    outputs: Outputs | None = None
    options: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("parameters", mode="before")
    @classmethod
    def _parameters(cls, value: Any) -> Any:
        return _check_parameters(value)

    @field_validator("processes", mode="before")
    @classmethod
    def _processes(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value  # pydantic reports the type error
        checked = {}
        for name, params in value.items():
            try:
                checked[name] = _check_parameters(params)
            except PydanticCustomError as exc:
                inner = (exc.context or {}).get("loc", "")
                loc = f"{name}.{inner}" if inner else str(name)
                raise _fail(exc.message(), loc) from None
        return checked

    @field_validator("tags", mode="before")
    @classmethod
    def _tags(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        out = {}
        for key, item in value.items():
            _check_scalar(item, str(key))
            out[str(key)] = str(item).lower() if isinstance(item, bool) else str(item)
        return out

    # -- loading -------------------------------------------------------------------

    @classmethod
    def from_data(cls, data: Any, *, source: str | None = None) -> RunSpec:
        """Validate a mapping into a RunSpec; problems raise SpecError."""
        if not isinstance(data, Mapping):
            raise SpecError(f"a run spec must be a mapping, got {_kind(data)}", file=source)
        try:
            return cls.model_validate(data)
        except SpecError as exc:
            raise (exc.in_file(source) if source else exc) from None

    @classmethod
    def from_file(cls, path: str | Path) -> RunSpec:
        """Read a spec from YAML (``.yaml``/``.yml``) or JSON (``.json``)."""
        path = Path(path)
        return cls.from_data(read_spec_data(path), source=str(path))

    def with_overrides(self, overrides: Mapping[str, Any], *, source: str | None = None) -> RunSpec:
        """A copy with dotted-path overrides applied (``{"parameters.threads": 8}``).

        List items are addressed by index (``mounts.0.source``). The result is
        validated again, so an override can never produce an invalid spec.
        """
        data = self.to_data()
        label = source or "--set"
        for dotted, value in overrides.items():
            try:
                set_dotted(data, dotted, value)
            except SpecError as exc:  # attribute path errors to the overrides, like the rest
                raise exc.in_file(label) from None
        return RunSpec.from_data(data, source=label)

    def to_data(self) -> dict[str, Any]:
        """A plain dict with unset fields left out (round-trips through from_data)."""
        return self.model_dump(mode="json", exclude_defaults=True)

    @functools.cached_property
    def _digest(self) -> str:
        canonical = json.dumps(self.to_data(), sort_keys=True, separators=(",", ":"))
        import hashlib  # here: OpenSSL's start-up is not needed to read a spec

        return hashlib.sha256(canonical.encode()).hexdigest()

    def digest(self) -> str:
        """A stable hash of the spec's content (the ledger's spec hash)."""
        return self._digest  # the spec is frozen: computed once

    def backend_options(self, backend: str) -> dict[str, Any]:
        """The ``options`` mapping for one backend (empty if none)."""
        return dict(self.options.get(backend, {}))


def read_spec_data(path: str | Path) -> Any:
    """The plain data in a YAML or JSON spec file (not validated); file problems
    raise SpecError naming the file."""
    path = Path(path)
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("no such file", file=label) from None
    except UnicodeDecodeError:
        raise SpecError("not UTF-8 text", file=label) from None
    except OSError as exc:
        raise SpecError(f"cannot read: {exc.strerror}", file=label) from None
    return load_text(text, label, json_only=path.suffix == ".json")


def load_text(text: str, label: str, *, json_only: bool = False) -> Any:
    """Parse YAML (safely: no object construction) or JSON into plain data.

    YAML aliases may share one value among many places; data whose aliases expand
    to more than :data:`MAX_VALUES` values (an "alias bomb": a few hundred bytes
    that expand to billions) or refer to themselves is refused here, on every path
    that reads a spec, a template or a params file."""
    if json_only:
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise SpecError(
                f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}", file=label
            ) from None
        except RecursionError:
            raise SpecError("not accepted: nested too deeply", file=label) from None
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise SpecError(f"not valid YAML: {problem}{where}", file=label) from None
    except RecursionError:
        raise SpecError("not accepted: nested too deeply", file=label) from None
    check_expansion(data, label)
    return data


#: The most values (mapping keys and values, list items, scalars) one document may
#: expand to once its YAML aliases are followed; specs and templates hold hundreds.
MAX_VALUES = 100_000


def check_expansion(data: Any, label: str) -> None:
    """Raise SpecError if ``data`` expands to more than :data:`MAX_VALUES` values, or
    holds itself (``&a [*a]``). Linear in the distinct objects, never expanding."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: Any) -> int:
        if not isinstance(node, dict | list):
            return 1
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise SpecError("not accepted: a YAML alias refers to itself", file=label)
        open_.add(key)
        items = [*node.keys(), *node.values()] if isinstance(node, dict) else node
        total = 1
        for item in items:
            total += size(item)
            if total > MAX_VALUES:
                raise SpecError(
                    f"not accepted: its YAML aliases expand to more than {MAX_VALUES:,}"
                    " values (an alias bomb?)",
                    file=label,
                    hint="write the values out, or use fewer nested aliases",
                )
        open_.discard(key)
        sizes[key] = total
        return total

    try:
        size(data)
    except RecursionError:
        raise SpecError("not accepted: nested too deeply", file=label) from None


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``data[a][b][c] = value`` for ``a.b.c``, creating mappings on the way."""
    parts = dotted.split(".")
    if not all(parts):
        raise SpecError(f"{dotted!r} is not a dotted field path", hint="e.g. parameters.threads")
    node: Any = data
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[_index(node, part, parts[: depth + 1])]
        else:
            if part not in node or node[part] is None:
                node[part] = {}
            node = node[part]
        if not isinstance(node, dict | list):  # also a list item that is a scalar
            where = ".".join(parts[: depth + 1])
            raise SpecError(f"cannot set {dotted}: {where} is {_kind(node)}", field=dotted)
    last = parts[-1]
    if isinstance(node, list):
        node[_index(node, last, parts)] = copy.deepcopy(value)
    else:
        node[last] = copy.deepcopy(value)


def _index(node: list[Any], part: str, path: list[str]) -> int:
    where = ".".join(path)
    if not part.isdigit() or int(part) >= len(node):
        raise SpecError(f"no list item {part!r} (the list has {len(node)})", field=where)
    return int(part)


def _spec_error(
    exc: ValidationError, source: str | None, *, root: type[BaseModel] | None = None
) -> SpecError:
    errors = exc.errors()
    # An unknown field is the likeliest cause of everything else: report it first.
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    problems: list[tuple[str, str, str | None]] = []
    seen: dict[str, int] = {}
    for err in errors:
        field, problem, hint = _describe(err, root)
        if field in seen:  # several union branches failed at the same place
            problems[seen[field]] = (field, _union_problem(errors, field, err), hint)
            continue
        seen[field] = len(problems)
        problems.append((field, problem, hint))
    field, problem, hint = problems[0]
    if len(problems) > 1:
        problem += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    if not field.isprintable():  # keys with newlines or controls: keep the error one line
        field = field.encode("unicode_escape").decode("ascii")
    return SpecError(problem, field=field or None, file=source, hint=hint)


def _union_problem(errors: list[Any], field: str, err: Any) -> str:
    wanted = []
    for other in errors:
        if ".".join(_clean_loc(other["loc"])) == field and other["type"].endswith("_type"):
            wanted.append(other["type"].removesuffix("_type").replace("_", " "))
    expected = " or ".join(dict.fromkeys(wanted)) or "another type"
    return f"expected {expected}, got {_kind(err.get('input'))}"


# Union branches add their type to an error's location ("int", "str", "list[str]",
# "function-before[...]"); those parts are not fields. Match whole parts only, so
# user keys such as "input" or "strandedness" survive.
_BRANCH = re.compile(r"^(str|int|float|bool|none)$|\[")


def _clean_loc(loc: tuple[Any, ...]) -> list[str]:
    parts = [str(p) for p in loc]
    kept = [p for p in parts[:-1] if not _BRANCH.search(p)]
    # The last part is the failing field itself, unless it is a branch tag.
    if parts and not (_BRANCH.search(parts[-1]) and len(parts) > 1):
        kept.append(parts[-1])
    return kept


def _describe(err: Any, root: type[BaseModel] | None) -> tuple[str, str, str | None]:
    loc = _clean_loc(err["loc"])
    ctx = err.get("ctx") or {}
    if err["type"] == "runhub":
        inner = ctx.get("loc", "")
        if inner:
            loc.append(inner)
        return ".".join(loc), err["msg"], None
    if err["type"] == "extra_forbidden":
        # The last part is the user's unknown key, whatever it looks like.
        loc = [*_clean_loc(err["loc"][:-1]), str(err["loc"][-1])]
        unknown = loc[-1]
        parent = _model_at(loc[:-1], root)
        import difflib  # only for errors

        close = difflib.get_close_matches(unknown, list(parent.model_fields), n=1) if parent else []
        hint = f"did you mean {close[0]!r}?" if close else None
        if parent is not None and not close:
            hint = "known fields: " + ", ".join(parent.model_fields)
        return ".".join(loc), "unknown field", hint
    if err["type"] == "missing":
        return ".".join(loc), "required field is missing", None
    value = err.get("input")
    msg = err["msg"]
    if err["type"].endswith("_type") or err["type"] in ("model_type", "dict_type", "list_type"):
        msg = f"{msg[0].lower()}{msg[1:]}, got {_kind(value)}"
    return ".".join(loc), msg, None


def _model_at(loc: list[str], root: type[BaseModel] | None = None) -> type[BaseModel] | None:
    """The model class at a location in ``root`` (a RunSpec by default), for "did you mean"."""
    model: type[BaseModel] = root or RunSpec
    for part in loc:
        if part.isdigit():
            continue
        if model is RunSpec and part == "mounts":
            model = DataMount
        elif model is RunSpec and part == "outputs":
            model = Outputs
        else:
            return None
    return model


__all__ = [
    "DataMount",
    "NamedParameters",
    "OrderedParameters",
    "ParamValue",
    "Parameters",
    "RunSpec",
    "Scalar",
    "check_expansion",
    "load_text",
    "read_spec_data",
    "set_dotted",
]
