"""Every distribution builds (sdist and wheel) offline, with metadata an index accepts:
what `python -m build` of each pyproject.toml produces, as a release would."""

from __future__ import annotations

import email
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DISTRIBUTIONS = {
    "runhub": (REPO, "runhub"),
    "runhub-ica": (REPO / "plugins" / "ica", "runhub_ica"),
    "runhub-codeocean": (REPO / "plugins" / "codeocean", "runhub_codeocean"),
    "runhub-wes": (REPO / "plugins" / "wes", "runhub_wes"),
}

pytest.importorskip("build", reason="the 'build' package (test extra) builds the distributions")
pytest.importorskip("hatchling", reason="hatchling (test extra) is needed to build offline")


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_each_distribution_builds_offline_with_publishable_metadata(
    name: str, tmp_path: Path
) -> None:
    source, package = DISTRIBUTIONS[name]
    done = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    (sdist,) = tmp_path.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n for n in names if n.endswith(".dist-info/METADATA"))
        metadata = email.message_from_bytes(archive.read(info))
        assert f"{package}/__init__.py" in names
        assert f"{package}/py.typed" in names  # the type hints ship (Typing :: Typed)
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
        if name != "runhub":
            points = archive.read(next(n for n in names if n.endswith("entry_points.txt")))
            assert b"[runhub]" in points
    assert metadata["Name"] == name
    assert metadata["Version"]
    assert metadata["License-Expression"] == "MIT"
    assert metadata["Summary"]
    assert metadata["Requires-Python"]
    assert metadata.get_payload(), "the long description (README) is missing"
    assert "Typing :: Typed" in metadata.get_all("Classifier", [])
    with tarfile.open(sdist) as archive:
        members = archive.getnames()
    assert any(m.endswith("/LICENSE") for m in members)
    assert any(m.endswith("/pyproject.toml") for m in members)
