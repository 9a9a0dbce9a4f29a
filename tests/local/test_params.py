"""How spec parameters become arguments of ``run``."""

from __future__ import annotations

import pytest

from runhub.local.params import arguments, text
from runhub.spec import Parameters


@pytest.mark.parametrize(
    ("parameters", "expected"),
    [
        (None, []),
        ([], []),
        (["75", 1, 2.5, True, False], ["75", "1", "2.5", "true", "false"]),
        ({"n": 10}, ["--n", "10"]),
        ({"a": "x", "b": "y"}, ["--a", "x", "--b", "y"]),
        ({"s": ["a", "b"]}, ["--s", "a", "--s", "b"]),
        ({"s": []}, []),
        ({"flag": True}, ["--flag", "true"]),
        ({"spaced": "a b; rm -rf /"}, ["--spaced", "a b; rm -rf /"]),
    ],
)
def test_arguments(parameters: Parameters | None, expected: list[str]) -> None:
    assert arguments(parameters) == expected


def test_text_of_scalars() -> None:
    assert [text(v) for v in (True, False, 0, 1.0, "x")] == ["true", "false", "0", "1.0", "x"]
