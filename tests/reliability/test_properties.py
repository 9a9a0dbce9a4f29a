"""Properties (hypothesis, ``ci`` profile from conftest.py):

- a RunSpec survives YAML and JSON round trips;
- every backend's translation of any valid spec gives a body its platform's schema
  accepts, or raises SpecError/Unsupported, never another exception;
- every native state, whatever its type, maps to some RunState without raising.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from platforms import CO_TOKEN, ICA_KEY, registry
from rows import FASTQC, QC_CAPSULE
from runhub_codeocean.emulator import ART_CAPSULE, FASTQ_ASSET, PIPELINE, REFERENCE_ASSET
from runhub_codeocean.emulator.model import RUN_PARAMS, check
from runhub_codeocean.states import map_state, to_status
from runhub_ica.emulator import IcaEmulator, seed
from runhub_ica.emulator import schema as ica_schema

from runhub.backend import RunRef
from runhub.client import Client
from runhub.errors import SpecError, Unsupported
from runhub.spec import RunSpec
from runhub.state import RunState
from runhub.testing.emulator import mock_transport

HELLO = Path(__file__).resolve().parents[2] / "examples" / "hello"

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,11}", fullmatch=True)
floats = st.floats(allow_nan=False, width=64)
scalars = st.one_of(st.text(max_size=12), st.integers(-(10**9), 10**9), floats, st.booleans())
values = st.one_of(scalars, st.lists(scalars, max_size=3))
# ordered parameters are a flat list; named ones may map to a list of scalars
parameters = st.one_of(st.lists(scalars, max_size=4), st.dictionaries(names, values, max_size=4))
mounts = st.lists(
    st.fixed_dictionaries(
        {"source": st.text(min_size=1, max_size=20)},
        optional={"path": st.text(max_size=12), "input": names},
    ),
    max_size=3,
)
outputs = st.fixed_dictionaries(
    {"path": st.text(min_size=1, max_size=20)},
    optional={"on_exist": st.sampled_from(["overwrite", "rename", "skip"])},
)
spec_data = st.fixed_dictionaries(
    {"pipeline": st.text(min_size=1, max_size=30)},
    optional={
        "backend": st.sampled_from(["ica", "codeocean", "local"]),
        "version": st.one_of(st.integers(0, 99), st.text(max_size=8)),
        "name": st.text(max_size=40),
        "mounts": mounts,
        "parameters": parameters,
        "processes": st.dictionaries(names, parameters, max_size=2),
        "tags": st.dictionaries(names, st.text(max_size=10), max_size=3),
        "outputs": outputs,
        "options": st.dictionaries(
            st.sampled_from(["ica", "codeocean", "local"]),
            st.dictionaries(names, scalars, max_size=2),
            max_size=2,
        ),
    },
)


@given(spec_data)
def test_runspec_survives_yaml_and_json_round_trips(data: dict[str, Any]) -> None:
    spec = RunSpec.from_data(data)
    with tempfile.TemporaryDirectory() as tmp:
        as_yaml = Path(tmp) / "run.yaml"
        # (PyYAML's allow_unicode writer folds U+0085 in plain scalars: not runhub's to test)
        as_yaml.write_text(yaml.safe_dump(spec.to_data()), encoding="utf-8")
        as_json = Path(tmp) / "run.json"
        as_json.write_text(json.dumps(spec.to_data()), encoding="utf-8")
        assert RunSpec.from_file(as_yaml) == spec
        assert RunSpec.from_file(as_json) == spec
    assert RunSpec.from_data(json.loads(json.dumps(spec.to_data()))).digest() == spec.digest()


# -- translation ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ica_client() -> Iterator[Client]:
    settings = {"ica": {"server_url": "http://127.0.0.1:9", "x_api_key": ICA_KEY,
                        "project_id": seed.PROJECT_ID}}  # fmt: skip
    app = IcaEmulator()
    with Client(settings=settings, transport=mock_transport(app), plugins=registry()) as c:
        yield c


@pytest.fixture(scope="module")
def co_client() -> Iterator[Client]:
    settings = {"codeocean": {"url": "http://127.0.0.1:9", "api_token": CO_TOKEN}}
    with Client(settings=settings, plugins=registry()) as c:
        yield c


def _translated(client: Client, data: dict[str, Any]) -> dict[str, Any] | None:
    """The body a launch would send, or None if the spec was refused as such."""
    try:
        spec = RunSpec.from_data(data)
        client.validate(spec)
        dry = client.dry_run(spec)
    except (SpecError, Unsupported):
        return None
    assert dry.request is not None
    body: dict[str, Any] = json.loads(dry.request.content)
    return body


ica_specs = st.fixed_dictionaries(
    {
        "backend": st.just("ica"),
        "pipeline": st.just(FASTQC),
        "mounts": st.just([{"source": "/fastqs/", "input": "reads"}]),
    },
    optional={
        "name": st.text(max_size=60),
        "parameters": parameters,
        "processes": st.dictionaries(names, parameters, max_size=1),
        "tags": st.dictionaries(names, st.text(max_size=10), max_size=3),
        "outputs": st.fixed_dictionaries({"path": st.sampled_from(["/out/", "/out/run-1/", "x"])}),
        "version": st.integers(0, 3),
        "options": st.fixed_dictionaries(
            {},
            optional={
                "ica": st.fixed_dictionaries(
                    {},
                    optional={
                        "storage": st.sampled_from(["Small", "Medium", "Large", ""]),
                        "kind": st.sampled_from(["nextflow", "cwl", "snakemake"]),
                        "colour": st.just("red"),
                    },
                )
            },
        ),
    },
)


@given(ica_specs)
def test_ica_translation_fits_the_official_schema_or_is_a_spec_error(
    ica_client: Client, data: dict[str, Any]
) -> None:
    body = _translated(ica_client, data)
    if body is not None:
        assert ica_schema.problems(ica_schema.REQUESTS["analysis:nextflow"], body) == {}


co_specs = st.fixed_dictionaries(
    {
        "backend": st.just("codeocean"),
        "pipeline": st.sampled_from([QC_CAPSULE, ART_CAPSULE, PIPELINE, "not-an-id"]),
    },
    optional={
        "name": st.text(max_size=60),
        "version": st.one_of(st.integers(-1, 5), st.just("v2")),
        "mounts": st.lists(
            st.fixed_dictionaries(
                {"source": st.sampled_from([FASTQ_ASSET, REFERENCE_ASSET, "/local/path", "x"])},
                optional={"path": st.sampled_from(["fastqs", "ref/", ""])},
            ),
            max_size=2,
        ),
        "parameters": parameters,
        "processes": st.dictionaries(names, parameters, max_size=2),
        "tags": st.dictionaries(names, st.text(max_size=10), max_size=2),
        "outputs": outputs,
        "options": st.fixed_dictionaries(
            {},
            optional={
                "codeocean": st.fixed_dictionaries(
                    {},
                    optional={
                        "kind": st.sampled_from(["capsule", "pipeline", "notebook"]),
                        "nextflow_profile": st.text(max_size=8),
                    },
                )
            },
        ),
    },
)


@given(co_specs)
def test_codeocean_translation_fits_the_sdk_model_or_is_a_spec_error(
    co_client: Client, data: dict[str, Any]
) -> None:
    body = _translated(co_client, data)
    if body is not None:
        assert check(body, RUN_PARAMS, "body") is None


local_specs = st.fixed_dictionaries(
    {"backend": st.just("local"), "pipeline": st.sampled_from([str(HELLO), "no/such/dir"])},
    optional={
        "name": st.text(max_size=30),
        "parameters": parameters,
        "processes": st.dictionaries(names, parameters, max_size=1),
        "mounts": st.lists(
            st.fixed_dictionaries(
                {"source": st.sampled_from([str(HELLO / "inputs"), "missing.fq"])},
                optional={"path": st.sampled_from(["reads", "../escape", "/abs", ""])},
            ),
            max_size=2,
        ),
        "options": st.fixed_dictionaries(
            {},
            optional={
                "local": st.dictionaries(st.sampled_from(["env", "shell"]), scalars, max_size=1)
            },
        ),
    },
)


@given(local_specs)
def test_local_translation_is_an_argv_of_strings_or_a_spec_error(data: dict[str, Any]) -> None:
    with Client(plugins=registry()) as client:
        try:
            client.validate(RunSpec.from_data(data))
            dry = client.dry_run(RunSpec.from_data(data))
        except (SpecError, Unsupported):
            return
    argv = dry.description["command"]
    assert isinstance(argv, list)
    assert all(isinstance(a, str) for a in argv)


# -- states ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), floats, st.text(max_size=12)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=2), st.dictionaries(st.text(max_size=4), inner, max_size=2)
    ),
    max_leaves=4,
)
state_words = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["completed", "failed", "running", "SUCCEEDED", "ABORTED", "COMPLETE"]),
)


@given(st.one_of(st.none(), state_words))
def test_every_native_state_text_maps_to_a_run_state(native: str | None) -> None:
    for name, info in registry().backends.items():
        backend = info.cls(info.cls.settings_model())
        assert isinstance(backend.state_of(native), RunState), name


@given(state=json_values, end_status=json_values, exit_code=json_values)
def test_codeocean_any_state_fields_map_without_raising(
    state: Any, end_status: Any, exit_code: Any
) -> None:
    assert isinstance(map_state(state, end_status, exit_code), RunState)
    body = {"id": "c1", "state": state, "end_status": end_status, "exit_code": exit_code}
    status = to_status(body, RunRef("codeocean", "c1"))
    assert isinstance(status.state, RunState)


@given(status=json_values)
def test_ica_any_status_field_maps_without_raising(status: Any) -> None:
    info = registry().backends["ica"]
    backend: Any = info.cls(info.cls.settings_model())
    parsed = backend._to_status({"id": "a1", "status": status}, seed.PROJECT_ID, None)
    assert isinstance(parsed.state, RunState)
    assert parsed.native == (status if isinstance(status, str) else None)


def test_floats_in_specs_stay_floats() -> None:
    spec = RunSpec.from_data({"pipeline": "p", "parameters": {"x": math.inf, "y": 1e-300}})
    assert RunSpec.from_data(json.loads(json.dumps(spec.to_data()))) == spec
