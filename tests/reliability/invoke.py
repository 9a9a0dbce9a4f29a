"""Running the CLI in-process (``runhub.cli.run``) and checking its failures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from click.testing import CliRunner

from runhub.cli import run


@dataclass
class Result:
    """What one CLI invocation did."""

    code: int
    out: str
    err: str

    def fails(self, code: int, *phrases: str) -> str:
        """Assert an expected failure: exit ``code``, exactly one ``runhub: error:``
        line holding every phrase (after any retry notices), no traceback. Returns
        the line."""
        assert self.code == code, (self.code, self.out, self.err)
        # a retry that waits over a second is announced before the error (cli.md)
        lines = [
            line
            for line in self.err.strip().splitlines()
            if not line.startswith("runhub: retrying in ")
        ]
        assert len(lines) == 1, self.err
        assert lines[0].startswith("runhub: error: "), lines[0]
        assert "Traceback" not in self.err + self.out
        for phrase in phrases:
            assert phrase in lines[0], (phrase, lines[0])
        return lines[0]


def cli_run(*args: str, stdin: str | None = None, argv: Sequence[str] = ()) -> Result:
    """``runhub ARGS`` in this process, through the console script's entry point."""
    runner = CliRunner()
    with runner.isolation(input=stdin) as (out, err, _mixed):
        code = run([*argv, *args])
    return Result(code, out.getvalue().decode(), err.getvalue().decode())
