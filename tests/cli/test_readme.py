"""The README's promises that a test can keep: the quick-start block's shape (CI runs
its two lines verbatim), and links that point at files that exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def quick_start() -> list[str]:
    section = README.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("\n```", 1)[0]
    return block.splitlines()


def test_the_quick_start_is_two_commands_run_from_the_venv() -> None:
    lines = quick_start()
    assert len(lines) == 2
    assert all(".venv/bin/" in line for line in lines)
    assert lines[0].startswith("python3 -m venv .venv && ")


def test_the_first_line_launches_the_hello_example_and_waits() -> None:
    words = shlex.split(quick_start()[0])
    launch = words[words.index(".venv/bin/runhub") + 1 :]
    assert launch[0] == "launch"
    assert "--wait" in launch
    assert (REPO / launch[1]).is_file()


def test_the_second_line_installs_plugins_that_exist_and_runs_pytest() -> None:
    words = shlex.split(quick_start()[1])
    editable = [words[i + 1] for i, word in enumerate(words) if word == "-e"]
    assert editable[0].startswith(".[")
    for path in editable[1:]:
        assert (REPO / path / "pyproject.toml").is_file(), path
    assert {"plugins/ica", "plugins/codeocean"} <= set(editable)
    last = quick_start()[1].rsplit("&&", 1)[1].split()
    assert last[:3] == [".venv/bin/python", "-m", "pytest"]


def test_relative_links_point_at_files() -> None:
    links = re.findall(r"\]\((?!https?:|#)([^)]+)\)", README)
    assert links
    for link in links:
        assert (REPO / link.split("#")[0]).exists(), link
