"""Samplesheet batches: parsing, safe templating, per-row validation, stable ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runhub.batch import BatchError, fill, load_template, placeholders, plan, read_samplesheet
from runhub.errors import SpecError
from runhub.spec import RunSpec

TEMPLATE: dict[str, Any] = {
    "pipeline": "examples/hello",
    "name": "run-{sample}",
    "mounts": [{"source": "{fastq}", "path": "reads"}],
    "parameters": {"min_quality": "{q}", "label": "{{literal}}"},
}


def sheet(tmp_path: Path, text: str, name: str = "samples.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_fill_every_placeholder(tmp_path: Path) -> None:
    path = sheet(tmp_path, "sample,fastq,q\nA,/d/a.fq.gz,20\nB,/d/b.fq.gz,30\n")
    got = plan(TEMPLATE, read_samplesheet(path), template_label="t.yaml")
    assert [i.row for i in got.items] == [2, 3]
    first = got.items[0].spec
    assert first.name == "run-A"
    assert first.mounts[0].source == "/d/a.fq.gz"
    assert first.parameters == {"min_quality": "20", "label": "{literal}"}
    assert got.batch_id.startswith("b-")


def test_tsv_and_bom_and_blank_lines(tmp_path: Path) -> None:
    path = sheet(tmp_path, "\ufeffsample\tfastq\tq\n\nA\t/a\t1\n", "s.tsv")
    loaded = read_samplesheet(path)
    assert loaded.columns == ["sample", "fastq", "q"]
    assert loaded.rows == [(3, {"sample": "A", "fastq": "/a", "q": "1"})]


def test_same_inputs_give_the_same_batch_and_row_keys(tmp_path: Path) -> None:
    path = sheet(tmp_path, "sample,fastq,q\nA,/a,1\nB,/b,2\n")
    one = plan(TEMPLATE, read_samplesheet(path), template_label="t")
    two = plan(TEMPLATE, read_samplesheet(path), template_label="t")
    assert one.batch_id == two.batch_id
    assert [i.row_key for i in one.items] == [i.row_key for i in two.items]
    other = plan(TEMPLATE, read_samplesheet(path), template_label="t", overrides={"version": 2})
    assert other.batch_id != one.batch_id


def test_identical_rows_get_distinct_keys(tmp_path: Path) -> None:
    template = {"pipeline": "p", "parameters": {"x": "{x}"}}
    path = sheet(tmp_path, "x\n1\n1\n")
    keys = [i.row_key for i in plan(template, read_samplesheet(path), template_label="t").items]
    assert len(set(keys)) == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sample,fastq\nA,/a\n", "placeholder {q} names no column"),
        ("sample,fastq,q\nA,,1\n", "row 2: column 'fastq' is empty"),
        ("sample,fastq,q\nA,/a,1\nA,/b,2\n", "row 3: run name 'run-A' repeats row 2"),
        ("sample,fastq,q\nA,/a\n", "row 2: 2 cells, but the header has 3"),
        ("sample,sample,q\nA,/a,1\n", "column 'sample' appears 2 times"),
        ("sample,fastq,q\n", "no data rows"),
    ],
)
def test_problems_are_reported_per_row(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(BatchError) as caught:
        plan(TEMPLATE, read_samplesheet(sheet(tmp_path, text)), template_label="t.yaml")
    assert expected in str(caught.value)
    assert "nothing was launched" in str(caught.value)


def test_every_bad_row_is_listed_not_just_the_first(tmp_path: Path) -> None:
    path = sheet(tmp_path, "sample,fastq,q\nA,,1\nB,/b,2\nC,,3\n")
    with pytest.raises(BatchError) as caught:
        plan(TEMPLATE, read_samplesheet(path), template_label="t")
    assert [p.split(":")[0] for p in caught.value.problems] == ["row 2", "row 4"]


def test_backend_validation_runs_per_row(tmp_path: Path) -> None:
    def no_b(spec: RunSpec) -> None:
        if spec.name == "run-B":
            raise SpecError("not allowed", field="name")

    path = sheet(tmp_path, "sample,fastq,q\nA,/a,1\nB,/b,2\n")
    with pytest.raises(BatchError, match="row 3: name: not allowed"):
        plan(TEMPLATE, read_samplesheet(path), template_label="t", validate=no_b)


def test_row_values_that_break_the_model_are_reported(tmp_path: Path) -> None:
    template = {"pipeline": "p", "outputs": {"path": "/o", "on_exist": "{mode}"}}
    path = sheet(tmp_path, "mode\nrename\nexplode\n")
    with pytest.raises(BatchError, match=r"row 3: outputs\.on_exist"):
        plan(template, read_samplesheet(path), template_label="t")


def test_placeholders_reach_only_cell_values() -> None:
    cells = {"a": "{b}", "b": "secret"}
    # A cell is inserted as text: placeholders inside values are never expanded again,
    # and attribute or index syntax is just an unknown column name.
    assert fill("x-{a}", cells) == "x-{b}"
    assert placeholders({"k": "{a.__class__}", "l": ["{b[0]}"]}) == {"a.__class__", "b[0]"}


def test_non_utf8_and_empty_samplesheets(tmp_path: Path) -> None:
    bad = tmp_path / "s.csv"
    bad.write_bytes(b"sample\n\xff\xfe\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        read_samplesheet(bad)
    with pytest.raises(SpecError, match="empty"):
        read_samplesheet(sheet(tmp_path, "\n\n"))
    with pytest.raises(SpecError, match="no such samplesheet"):
        read_samplesheet(tmp_path / "missing.csv")


def test_load_template_keeps_placeholders_unvalidated(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("pipeline: p\nversion: '{v}'\n")
    assert load_template(path) == {"pipeline": "p", "version": "{v}"}


def test_unreadable_template_is_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="cannot read"):
        load_template(tmp_path)  # a directory
    with pytest.raises(SpecError, match="no such file"):
        load_template(tmp_path / "missing.yaml")
