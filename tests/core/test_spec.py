"""RunSpec: every valid shape round-trips; every invalid one names its field."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from runhub.errors import SpecError
from runhub.spec import DataMount, RunSpec

VALID: dict[str, dict[str, Any]] = {
    "minimal": {"pipeline": "4bc97533-6eb4-48ac-966f-648548a756d2"},
    "ordered": {"pipeline": "p", "parameters": ["75", 1, 2.5, True]},
    "named": {"pipeline": "p", "parameters": {"NumFiles": 10, "mode": "fast", "ok": False}},
    "named lists": {"pipeline": "p", "parameters": {"samples": ["a", "b"], "n": [1, 2]}},
    "empty parameters": {"pipeline": "p", "parameters": []},
    "everything": {
        "backend": "codeocean",
        "pipeline": "4bc97533-6eb4-48ac-966f-648548a756d2",
        "version": 1,
        "name": "sample-A-run1",
        "mounts": [
            {"source": "bf8cf993-a583-495c-bebd-2f38f81d1ea1", "path": "Alignment"},
            {"source": "fil.123", "input": "fastqs"},
        ],
        "parameters": {"NumFiles": 10, "mode": "fast"},
        "processes": {"capsule_art_1": ["75", "1"], "step_2": {"depth": 30}},
        "tags": {"project": "demo"},
        "outputs": {"path": "/runs/sample-A/", "on_exist": "overwrite"},
        "options": {"ica": {"project": "p-1", "storage": "Small"}, "codeocean": {"x": [1]}},
    },
    "string version": {"pipeline": "p", "version": "2.1.0"},
    "infinite values": {"pipeline": "p", "parameters": {"max": float("inf"), "min": -1e308}},
    "outputs default on_exist": {"pipeline": "p", "outputs": {"path": "/out"}},
}


@pytest.mark.parametrize("data", VALID.values(), ids=VALID.keys())
def test_valid_specs_round_trip_through_data(data: dict[str, Any]) -> None:
    spec = RunSpec.from_data(data)
    again = RunSpec.from_data(spec.to_data())
    assert again == spec
    assert again.to_data() == spec.to_data()
    assert again.digest() == spec.digest()


@pytest.mark.parametrize("data", VALID.values(), ids=VALID.keys())
@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_valid_specs_round_trip_through_files(
    data: dict[str, Any], suffix: str, tmp_path: Path
) -> None:
    spec = RunSpec.from_data(data)
    path = tmp_path / f"run{suffix}"
    text = json.dumps(spec.to_data()) if suffix == ".json" else yaml.safe_dump(spec.to_data())
    path.write_text(text)
    assert RunSpec.from_file(path) == spec
    assert RunSpec.from_file(str(path)) == spec


def test_parameter_types_are_kept_exactly() -> None:
    spec = RunSpec.from_data({"pipeline": "p", "parameters": [1, "1", 1.0, True, "true"]})
    assert spec.parameters == [1, "1", 1.0, True, "true"]
    assert [type(v) for v in spec.parameters] == [int, str, float, bool, str]
    assert spec.to_data()["parameters"] == [1, "1", 1.0, True, "true"]


def test_the_parameters_type_says_ordered_or_named() -> None:
    assert isinstance(RunSpec(pipeline="p", parameters=["a"]).parameters, list)
    assert isinstance(RunSpec(pipeline="p", parameters={"a": 1}).parameters, dict)
    assert RunSpec(pipeline="p").parameters is None


def test_tags_become_strings_with_lowercase_booleans() -> None:
    spec = RunSpec.from_data({"pipeline": "p", "tags": {"a": True, "b": 2, "c": "x"}})
    assert spec.tags == {"a": "true", "b": "2", "c": "x"}


def test_defaults_are_left_out_of_to_data() -> None:
    assert RunSpec(pipeline="p").to_data() == {"pipeline": "p"}


def test_mounts_are_models_and_backend_options_copy() -> None:
    spec = RunSpec.from_data(
        {"pipeline": "p", "mounts": [{"source": "s"}], "options": {"ica": {"storage": "Small"}}}
    )
    assert spec.mounts == [DataMount(source="s")]
    options = spec.backend_options("ica")
    options["storage"] = "Large"
    assert spec.backend_options("ica") == {"storage": "Small"}
    assert spec.backend_options("codeocean") == {}


def test_digest_differs_when_content_differs() -> None:
    a = RunSpec.from_data({"pipeline": "p", "parameters": {"n": 1}})
    b = RunSpec.from_data({"pipeline": "p", "parameters": {"n": "1"}})
    assert a.digest() != b.digest()


def test_spec_is_immutable() -> None:
    spec = RunSpec(pipeline="p")
    with pytest.raises(Exception, match="frozen"):
        spec.pipeline = "q"  # type: ignore[misc]


# (data, expected err.field, substring of the message)
INVALID: list[tuple[Any, str | None, str]] = [
    ({}, "pipeline", "required field is missing"),
    ({"pipeline": ""}, "pipeline", "at least 1 character"),
    ({"pipeline": 5}, "pipeline", "got a number"),
    ({"pipeline": None}, "pipeline", "got null"),
    ({"pipeline": "p", "pipelin": "x"}, "pipelin", "unknown field"),
    ({"pipeline": "p", "mounts": [{}]}, "mounts.0.source", "required field is missing"),
    ({"pipeline": "p", "mounts": [{"source": ""}]}, "mounts.0.source", "at least 1 character"),
    ({"pipeline": "p", "mounts": {"source": "x"}}, "mounts", "got a mapping"),
    ({"pipeline": "p", "mounts": [{"source": "x", "path": 5}]}, "mounts.0.path", "got a number"),
    ({"pipeline": "p", "parameters": "x"}, "parameters", "a list (ordered) or a mapping"),
    ({"pipeline": "p", "parameters": 3}, "parameters", "got a number"),
    ({"pipeline": "p", "parameters": [1, [2]]}, "parameters.1", "flat list"),
    ({"pipeline": "p", "parameters": [None]}, "parameters.0", "got null"),
    ({"pipeline": "p", "parameters": {"a": {"b": 1}}}, "parameters.a", "got a mapping"),
    ({"pipeline": "p", "parameters": {"a": [1, {"x": 1}]}}, "parameters.a.1", "got a mapping"),
    ({"pipeline": "p", "parameters": {"a": None}}, "parameters.a", "got null"),
    ({"pipeline": "p", "parameters": {"": 1}}, "parameters", "non-empty strings"),
    ({"pipeline": "p", "processes": {"s": "x"}}, "processes.s", "a list (ordered) or a mapping"),
    ({"pipeline": "p", "processes": {"s": {"a": {"b": 1}}}}, "processes.s.a", "got a mapping"),
    ({"pipeline": "p", "processes": ["x"]}, "processes", "got a list"),
    ({"pipeline": "p", "tags": {"a": [1]}}, "tags.a", "got a list"),
    ({"pipeline": "p", "tags": "x"}, "tags", "got a string"),
    ({"pipeline": "p", "outputs": {}}, "outputs.path", "required field is missing"),
    (
        {"pipeline": "p", "outputs": {"path": "/x", "on_exist": "clobber"}},
        "outputs.on_exist",
        "'overwrite', 'rename' or 'skip'",
    ),
    ({"pipeline": "p", "options": {"ica": "x"}}, "options.ica", "got a string"),
    ({"pipeline": "p", "version": [1]}, "version", "got a list"),
    # Keys that look like type names must keep their place in the path.
    ({"pipeline": "p", "mounts": [{"source": "x", "input": 5}]}, "mounts.0.input", "a number"),
    ({"pipeline": "p", "interval": 5}, "interval", "unknown field"),
    ({"pipeline": "p", "str": 1}, "str", "unknown field"),
    ({"pipeline": "p", "mounts": [{"source": "x", "str": 1}]}, "mounts.0.str", "unknown field"),
    ({"pipeline": "p", "options": {"integration": "x"}}, "options.integration", "a string"),
    ({"pipeline": "p", "name": {"a": 1}}, "name", "got a mapping"),
    (["pipeline"], None, "must be a mapping, got a list"),
    (None, None, "must be a mapping, got null"),
]


@pytest.mark.parametrize(
    ("data", "field", "message"), INVALID, ids=[f"{i}-{c[1]}" for i, c in enumerate(INVALID)]
)
def test_invalid_specs_name_the_field(data: Any, field: str | None, message: str) -> None:
    with pytest.raises(SpecError) as err:
        RunSpec.from_data(data, source="run.yaml")
    assert err.value.field == field
    assert message in err.value.problem
    assert err.value.file == "run.yaml"
    text = str(err.value)
    assert text.startswith("run.yaml: " + (f"{field}: " if field else ""))
    assert "\n" not in text
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    ("data", "field", "suggestion"),
    [
        ({"pipeline": "p", "paramters": {}}, "paramters", "parameters"),
        ({"pipeline": "p", "mount": []}, "mount", "mounts"),
        ({"pipeline": "p", "mounts": [{"sourc": "x"}]}, "mounts.0.sourc", "source"),
        ({"pipeline": "p", "mounts": [{"source": "x", "inputs": "y"}]}, "mounts.0.inputs", "input"),
        ({"pipeline": "p", "outputs": {"pth": "/x"}}, "outputs.pth", "path"),
    ],
)
def test_unknown_fields_suggest_the_closest(data: Any, field: str, suggestion: str) -> None:
    with pytest.raises(SpecError) as err:
        RunSpec.from_data(data)
    assert err.value.field == field
    assert err.value.problem.startswith("unknown field")
    assert err.value.hint == f"did you mean {suggestion!r}?"


def test_unknown_field_with_no_close_match_lists_the_known_ones() -> None:
    with pytest.raises(SpecError) as err:
        RunSpec.from_data({"pipeline": "p", "zzzz": 1})
    assert err.value.hint is not None
    assert "known fields: pipeline, backend" in err.value.hint


def test_several_problems_report_the_first_and_count_the_rest() -> None:
    with pytest.raises(SpecError) as err:
        RunSpec.from_data({"pipeline": "", "name": 3, "paramters": 1})
    assert err.value.field == "paramters"  # unknown fields first: the likeliest cause
    assert "(and 2 more problems)" in err.value.problem


# -- overrides -----------------------------------------------------------------------------

BASE = RunSpec.from_data(
    {
        "pipeline": "p",
        "mounts": [{"source": "a"}, {"source": "b", "path": "B"}],
        "parameters": {"threads": 4},
    }
)


@pytest.mark.parametrize(
    ("overrides", "check"),
    [
        ({"parameters.threads": 8}, lambda s: s.parameters == {"threads": 8}),
        ({"parameters.threads": "8"}, lambda s: s.parameters == {"threads": "8"}),
        ({"parameters.fast": True}, lambda s: s.parameters == {"threads": 4, "fast": True}),
        ({"parameters.ids": [1, 2]}, lambda s: s.parameters["ids"] == [1, 2]),
        ({"parameters": ["x", "y"]}, lambda s: s.parameters == ["x", "y"]),
        ({"mounts.1.source": "c"}, lambda s: s.mounts[1] == DataMount(source="c", path="B")),
        ({"mounts.0": {"source": "z"}}, lambda s: s.mounts[0].source == "z"),
        ({"options.ica.storage": "Small"}, lambda s: s.options == {"ica": {"storage": "Small"}}),
        ({"name": "run-2", "version": 3}, lambda s: (s.name, s.version) == ("run-2", 3)),
        ({"tags.batch": 7}, lambda s: s.tags == {"batch": "7"}),
    ],
)
def test_overrides_apply_typed_values(overrides: dict[str, Any], check: Any) -> None:
    changed = BASE.with_overrides(overrides)
    assert check(changed)
    assert BASE.parameters == {"threads": 4}  # the original is untouched


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"mounts.5.source": "c"}, "mounts.5", "no list item '5' (the list has 2)"),
        ({"mounts.x.source": "c"}, "mounts.x", "no list item 'x'"),
        ({"parameters.threads.deep": 1}, "parameters.threads.deep", "is a number"),
        ({"pipeline": ""}, "pipeline", "at least 1 character"),
        ({"mounts.0.sourc": "x"}, "mounts.0.sourc", "unknown field"),
        ({"parameters.threads": {"a": 1}}, "parameters.threads", "got a mapping"),
        ({"a..b": 1}, None, "not a dotted field path"),
    ],
)
def test_invalid_overrides_are_spec_errors(
    overrides: dict[str, Any], field: str | None, message: str
) -> None:
    with pytest.raises(SpecError) as err:
        BASE.with_overrides(overrides)
    assert err.value.field == field
    assert message in str(err.value)
    assert err.value.file == "--set"


def test_override_source_names_the_origin() -> None:
    with pytest.raises(SpecError) as err:
        BASE.with_overrides({"pipeline": ""}, source="samples.csv row 3")
    assert str(err.value).startswith("samples.csv row 3: pipeline: ")


# -- files ----------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as err:
        RunSpec.from_file(tmp_path / "nope.yaml")
    assert err.value.file == str(tmp_path / "nope.yaml")
    assert "no such file" in str(err.value)


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        RunSpec.from_file(tmp_path)


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("pipeline: p\nparameters:\n  a: 1\n   b: 2\n")
    with pytest.raises(SpecError) as err:
        RunSpec.from_file(path)
    assert "not valid YAML" in str(err.value)
    assert "line 4" in str(err.value)
    assert str(err.value).startswith(str(path))


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    path.write_text('{"pipeline": "p",\n "x": }')
    with pytest.raises(SpecError) as err:
        RunSpec.from_file(path)
    assert "not valid JSON" in str(err.value)
    assert "line 2" in str(err.value)


def test_yaml_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="must be a mapping, got a list"):
        RunSpec.from_file(path)


def test_yaml_never_constructs_objects(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("pipeline: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        RunSpec.from_file(path)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_bytes(b"pipeline: \xff\xfe\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        RunSpec.from_file(path)


def test_file_errors_from_validation_name_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("pipeline: p\nparameters:\n  threads: {a: 1}\n")
    with pytest.raises(SpecError) as err:
        RunSpec.from_file(path)
    assert str(err.value).startswith(f"{path}: parameters.threads: expected a scalar or a list")


# -- any valid spec round-trips (property) ---------------------------------------------

_text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=12)
_scalar = st.one_of(
    _text,
    st.integers(-(10**9), 10**9),
    st.booleans(),
    st.floats(allow_nan=False, width=32),
)
_named = st.dictionaries(_text, st.one_of(_scalar, st.lists(_scalar, max_size=3)), max_size=4)
_parameters = st.one_of(st.none(), st.lists(_scalar, max_size=4), _named)
_specs = st.fixed_dictionaries(
    {"pipeline": _text},
    optional={
        "name": _text,
        "version": st.one_of(st.integers(0, 99), _text),
        "mounts": st.lists(
            st.fixed_dictionaries({"source": _text}, optional={"path": _text, "input": _text}),
            max_size=3,
        ),
        "parameters": _parameters,
        "processes": st.dictionaries(_text, st.one_of(st.lists(_scalar, max_size=3), _named)),
        "tags": st.dictionaries(_text, _text, max_size=3),
        "options": st.dictionaries(_text, st.dictionaries(_text, _scalar, max_size=2), max_size=2),
    },
)


@settings(max_examples=150, deadline=None)
@given(_specs)
def test_any_valid_spec_round_trips_through_yaml_and_json(data: dict[str, Any]) -> None:
    spec = RunSpec.from_data(data)
    assert RunSpec.from_data(spec.to_data()) == spec
    assert RunSpec.from_data(yaml.safe_load(yaml.safe_dump(spec.to_data()))) == spec
    assert RunSpec.from_data(json.loads(json.dumps(spec.to_data()))) == spec
    assert RunSpec.from_data(json.loads(json.dumps(spec.to_data()))).digest() == spec.digest()


_FIELDS = [*RunSpec.model_fields, *DataMount.model_fields, "on_exist", "interval", "str", "x"]
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=3), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.dictionaries(st.sampled_from(_FIELDS), _json, max_size=6), _json))
def test_any_input_gives_a_spec_or_a_one_line_spec_error(data: Any) -> None:
    try:
        RunSpec.from_data(data)
    except SpecError as err:
        text = str(err)
    else:
        return
    assert "\n" not in text


def test_odd_keys_are_escaped_in_the_field_path() -> None:
    with pytest.raises(SpecError) as err:
        RunSpec.from_data({"pipeline": "p", "mounts": [{"source": "x", "a\nb": 1}]})
    assert err.value.field == "mounts.0.a\\nb"


def test_the_example_in_docs_spec_is_a_valid_spec() -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "spec.md"
    blocks = re.findall(r"^```yaml\n(.*?)^```$", doc.read_text(encoding="utf-8"), re.M | re.S)
    assert blocks
    spec = RunSpec.from_data(yaml.safe_load(blocks[0]))
    assert spec.backend == "codeocean"
    assert spec.processes == {"capsule_art_simulation_illumina_1": ["75", "1"]}
    assert spec.mounts[0].path == "Alignment"


def test_examples_hello_runspec_is_valid() -> None:
    path = Path(__file__).resolve().parents[2] / "examples" / "hello" / "runspec.yaml"
    spec = RunSpec.from_file(path)
    assert spec.backend == "local"
    assert spec.parameters == {"min_quality": 20}


# -- built directly in Python: SpecError too (issue 12, item 15) -------------------


@pytest.mark.parametrize(
    ("build", "field", "words"),
    [
        (lambda: RunSpec(pipeline=""), "pipeline", "at least 1 character"),
        (lambda: RunSpec(pipeline="p", parameters={"a": {"b": 1}}), "parameters.a", "a scalar"),
        (lambda: RunSpec(pipeline="p", mounts=[{"source": ""}]), "mounts.0.source", "at least"),
        (lambda: RunSpec(pipeline="p", outputs={"path": ""}), "outputs.path", "at least"),
        (lambda: RunSpec(pipeline="p", pipline="x"), "pipline", "unknown field"),  # type: ignore[call-arg]
        (lambda: RunSpec.model_validate({"pipeline": 3}), "pipeline", "valid string"),
        (lambda: RunSpec.model_validate_json('{"pipeline": "p", "tags": []}'), "tags", "dict"),
        (lambda: DataMount(source=""), "source", "at least 1 character"),
        (lambda: DataMount(source="s", inptu="x"), "inptu", "unknown field"),  # type: ignore[call-arg]
        (lambda: DataMount.model_validate({"path": "p"}), "source", "required"),
    ],
)
def test_models_built_directly_raise_spec_error_with_the_field_path(
    build: Any, field: str, words: str
) -> None:
    with pytest.raises(SpecError) as caught:
        build()
    assert caught.value.field == field
    assert words in str(caught.value)
    assert caught.value.file is None


def test_a_direct_unknown_field_gets_the_models_own_hint() -> None:
    with pytest.raises(SpecError, match="did you mean 'path'"):
        DataMount(source="s", pth="x")  # type: ignore[call-arg]


def test_from_data_messages_keep_their_file_and_wording() -> None:
    with pytest.raises(SpecError) as caught:
        RunSpec.from_data({"pipeline": "p", "mounts": [{"source": "a", "pth": 1}]}, source="r.yaml")
    assert str(caught.value) == "r.yaml: mounts.0.pth: unknown field (did you mean 'path'?)"
