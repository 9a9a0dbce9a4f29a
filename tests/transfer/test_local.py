"""Which mount sources are local paths (DESIGN.md §11), and what they may hold."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runhub.errors import SpecError
from runhub.transfer.local import examine, examine_path, is_local, local_path


@pytest.mark.parametrize(
    "source",
    ["./r.fq", "../r.fq", ".", "fastqs/S1.fq.gz", "~", "~/r.fq", "file:/d/r.fq", "file:///d/r.fq"],
)
def test_local_forms(source: str) -> None:
    assert is_local(source)


@pytest.mark.parametrize(
    "source",
    [
        "/fastqs/r.fq",  # an ICA project path
        "r.fq",  # a bare word: maybe an id
        "fil.0123456789abcdef0123456789abcdef",
        "1d6a0f2e-7c3b-4a9d-8e51-2b4c6f8a0d13",
        "s3://bucket/key",
        "ica://project/path",
        "https://example.org/x",
        "file://otherhost/x",
    ],
)
def test_platform_forms(source: str) -> None:
    assert not is_local(source)


def test_file_uris_decode() -> None:
    assert local_path("file:///d/a%20b.fq") == Path("/d/a b.fq")


def test_a_folder_is_every_file_below_it(tmp_path: Path) -> None:
    os.chdir(tmp_path)
    Path("run/lane2").mkdir(parents=True)
    Path("run/a.fq").write_bytes(b"a")
    Path("run/lane2/b.fq").write_bytes(b"bb")
    tree = examine("./run/", "mounts.0.source")
    assert tree.folder
    assert [(f.name, f.size) for f in tree.files] == [("a.fq", 1), ("lane2/b.fq", 2)]


@pytest.mark.parametrize(
    ("make", "source", "problem"),
    [
        (lambda: None, "./missing.fq", "no such file or folder"),
        (lambda: Path("empty").mkdir(), "./empty", "holds no files"),
        (lambda: Path("f.fq").write_text("x"), "./f.fq/", "trailing '/' asks for a folder"),
        (lambda: os.mkfifo("pipe.fq"), "./pipe.fq", "not a regular file"),
    ],
)
def test_what_cannot_be_uploaded_is_a_spec_error(
    tmp_path: Path, make: object, source: str, problem: str
) -> None:
    os.chdir(tmp_path)
    make()  # type: ignore[operator]
    with pytest.raises(SpecError, match=problem) as info:
        examine(source, "mounts.2.source")
    assert info.value.field == "mounts.2.source"


def test_an_unreadable_file_names_the_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests run as root here, who can read anything: the permission check itself is
    # what is exercised, by answering it as the kernel would for another user.
    os.chdir(tmp_path)
    Path("secret.fq").write_text("x")
    real = os.access
    monkeypatch.setattr(
        os, "access", lambda p, mode: False if str(p).endswith("secret.fq") else real(p, mode)
    )
    with pytest.raises(SpecError, match="permission denied") as info:
        examine("./secret.fq")
    assert "chmod u+r" in str(info.value)


def test_command_line_paths_may_be_absolute(tmp_path: Path) -> None:
    (tmp_path / "a.fq").write_bytes(b"a")
    assert examine_path(str(tmp_path / "a.fq")).files[0].size == 1
