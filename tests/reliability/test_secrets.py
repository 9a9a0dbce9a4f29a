"""Secrets never leak: every CLI command and library path is run with distinctive fake
credentials, verbose and at debug level, succeeding and failing; stdout, stderr, log
records, exception strings, reprs, the ledger database and the cassettes are
scanned. The expected count of occurrences is 0.

The platforms include a hostile one that echoes every request header back in its
error bodies, so redaction (not mere omission) is what keeps the secrets out.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fault_scenario import template
from invoke import cli_run
from platforms import CO_TOKEN, ICA_KEY, Platform, client, fault_plan, registry, serve
from rows import POLICY, spec_for

from runhub.client import Client, PollSchedule
from runhub.errors import RunhubError
from runhub.ledger import Ledger
from runhub.testing.emulator import EmulatorServer

WRONG_ICA_KEY = "ICAKEY-wrong-0b5e2f9a61c3"
ICA_JWT = "ICAJWT-fake-eyJhbGciOi.9d2c5e7a"
WRONG_CO_TOKEN = "COTOKEN-wrong-5a8d1c4e7b20"
REPO = Path(__file__).resolve().parents[2]


def basic(token: str) -> str:
    """Code Ocean's credential as it travels: HTTP Basic, token as user name."""
    return base64.b64encode(f"{token}:".encode()).decode()


SECRETS = [
    ICA_KEY,
    WRONG_ICA_KEY,
    ICA_JWT,
    CO_TOKEN,
    WRONG_CO_TOKEN,
    basic(CO_TOKEN),
    basic(WRONG_CO_TOKEN),
    basic(CO_TOKEN).rstrip("="),
]


def leaks(text: str | bytes) -> list[str]:
    """The secrets found in ``text``."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [s for s in SECRETS if s in text]


class Echo:
    """A hostile platform: every answer is an error quoting the request's headers."""

    def __init__(self, status: int) -> None:
        self.status = status

    def handle(self, request: httpx.Request) -> httpx.Response:
        quoted = dict(request.headers.items())
        return httpx.Response(
            self.status,
            headers={"Content-Type": "application/problem+json"},
            json={
                "type": "about:blank",
                "title": "ECHO",
                "status": self.status,
                "detail": f"you sent {quoted}",
                "message": f"you sent {quoted}",
            },
        )


class Records(logging.Handler):
    """Every log record of every logger, formatted with its exception."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record) + repr(record.args))


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    loggers = [logging.getLogger(n) for n in ("", "runhub", "stamina", "httpx", "httpcore")]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    yield handler
    for lg, level in saved:
        lg.removeHandler(handler)
        lg.setLevel(level)


def _spec_file(tmp: Path, name: str) -> Path:
    import json

    path = tmp / f"{name}.json"
    path.write_text(json.dumps(spec_for(name, 7).to_data()))
    return path


def _cli_session(platform: Platform, tmp: Path, argv: list[str]) -> list[str]:
    """Every CLI command against ``platform``; returns all they wrote."""
    spec = str(_spec_file(tmp, platform.name))
    seen: list[str] = []

    def go(*args: str) -> Any:
        result = cli_run(*args, argv=argv)
        seen.extend([result.out, result.err])
        return result

    go("backends")
    go("backends", "-o", "json")
    go("config", "path")
    go("launch", spec, "--dry-run")
    go("launch", spec, "--dry-run", "-o", "json")
    launched = go("launch", spec)
    assert launched.code == 0, launched.err
    ref = launched.out.strip().splitlines()[-1]
    go("launch", spec, "-o", "json")
    time.sleep(0.3)  # the emulated run ends
    go("status", ref)
    go("status", ref, "-o", "json")
    go("wait", ref, "--timeout", "5s")
    go("outputs", ref)
    go("outputs", ref, "-o", "json")
    other = go("launch", spec).out.strip().splitlines()[-1]
    go("cancel", "--yes", other)
    go("status", f"{platform.name}:nope/nope")
    go("launch", str(tmp / "missing.yaml"))
    go("validate", spec)
    go("config", "show")
    go("config", "show", "-o", "json")
    go("runs")
    go("runs", "--refresh", "-o", "json")
    go("outputs", ref, "--download", str(tmp / "downloads"))
    (tmp / "tpl.yaml").write_text(template(platform.name))
    (tmp / "sheet.csv").write_text("row,mode\n1,fast\n2,fast\n")
    batch = ["batch", str(tmp / "tpl.yaml"), str(tmp / "sheet.csv")]
    go(*batch, "--dry-run")
    go(*batch, "-o", "json")
    go(*batch, "--wait", "--poll", "0.05", "-o", "yaml")
    go("completion", "bash")
    return seen


@pytest.mark.parametrize("name", ["ica", "codeocean"])
@pytest.mark.parametrize("level", ["-v", "debug"])
def test_cli_never_prints_a_secret(
    name: str, level: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = ["-v"] if level == "-v" else ["-vv"]
    if level == "debug":
        monkeypatch.setenv("RUNHUB_LOG", "debug")
    seen: list[str] = []
    faults = fault_plan(0.0, 0)
    faults.push("429", "429")  # retries get logged too (Retry-After keeps them quick)
    with serve(name, faults, speed=100.0) as platform:
        for key, value in platform.env().items():
            monkeypatch.setenv(key, value)
        seen += _cli_session(platform, tmp_path, argv)
        # wrong credentials: 401, and the wrong one must not be echoed either
        if name == "ica":
            monkeypatch.setenv("ICAV2_X_API_KEY", WRONG_ICA_KEY)
        else:
            monkeypatch.setenv("CODEOCEAN_API_TOKEN", WRONG_CO_TOKEN)
        spec = str(_spec_file(tmp_path, name))
        for args in (("launch", spec), ("launch", spec, "--dry-run"), ("status", f"{name}:a/b")):
            result = cli_run(*args, argv=argv)
            assert "Traceback" not in result.err
            seen += [result.out, result.err]
    with EchoPlatform(name) as echo:  # the hostile platform quoting our headers
        for key, value in echo.env().items():
            monkeypatch.setenv(key, value)
        for echo.app.status in (400, 401, 500):
            for args in (("launch", spec), ("launch", spec, "--dry-run"), ("status", f"{name}:x")):
                result = cli_run(*args, argv=argv)
                assert "Traceback" not in result.err
                seen += [result.out, result.err]
    assert [leaks(text) for text in seen if leaks(text)] == []


class EchoPlatform:
    """Serve :class:`Echo` (set ``app.status``) and point a backend at it."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.app = Echo(400)
        self.server = EmulatorServer(self.app)

    def __enter__(self) -> EchoPlatform:
        self.server.start()
        return self

    def env(self) -> dict[str, str]:
        if self.name == "ica":
            return {
                "ICAV2_SERVER_URL": self.server.url,
                "ICAV2_X_API_KEY": ICA_KEY,
                "ICAV2_PROJECT_ID": "0d4f6a1e-6b1c-4a8e-9a51-2f3c5b7e8d90",
            }
        return {"CODEOCEAN_URL": self.server.url, "CODEOCEAN_API_TOKEN": CO_TOKEN}

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def test_cli_with_credentials_from_the_profile_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serve("ica", speed=100.0) as platform:
        config = tmp_path / "config.toml"
        config.write_text(
            "[default.ica]\n"
            f'server_url = "{platform.server.url}"\n'
            f'access_token = "{ICA_JWT}"\n'
            f'project_id = "{platform.settings["ica"]["project_id"]}"\n'
        )
        monkeypatch.setenv("RUNHUB_CONFIG", str(config))
        platform.app.api_keys = {ICA_JWT}
        seen = _cli_session(platform, tmp_path, ["-vv"])
    assert [leaks(text) for text in seen if leaks(text)] == []


def _public_objects(c: Client, platform: Platform, extra: list[Any]) -> list[Any]:
    backend = c.backend(platform.name)
    objects: list[Any] = [c, backend, backend.settings, c.redact, c.policy, *extra]
    objects.append(c.driver(backend))
    objects += list(vars(backend.settings).values())
    if hasattr(backend, "endpoint"):
        objects.append(backend.endpoint())
    return objects


@pytest.mark.parametrize("name", ["ica", "codeocean"])
def test_library_never_leaks_a_secret(name: str, tmp_path: Path, records: Records) -> None:
    texts: list[str] = []
    ledger_path = tmp_path / "ledger.sqlite"
    faults = fault_plan(0.2, 5)
    with serve(name, faults, speed=100.0) as platform:
        with Client(
            settings=platform.settings,
            plugins=registry(),
            ledger=Ledger(ledger_path),
            policy=POLICY,
        ) as c:
            spec = spec_for(name, 3)
            dry = c.dry_run(spec)
            texts += [dry.render(c.redact), repr(dry), repr(dry.request), repr(dry.lookups)]
            status = c.launch(spec, batch="b", row_key="r1")
            final = c.wait(status.ref, timeout=30, poll=PollSchedule(0.05, cap=0.1))
            outputs = c.outputs(status.ref)
            urls = c.download_urls(status.ref, outputs)
            other = c.launch(spec_for(name, 4))
            cancelled = c.cancel(other.ref)
            statuses = c.statuses([status.ref, other.ref])
            ledger_rows = c.ledger.runs() if c.ledger else []
            extra = [dry, status, final, outputs, urls, cancelled, statuses, c.ledger, ledger_rows]
            objects = _public_objects(c, platform, extra)
            texts += [repr(o) for o in objects] + [str(o) for o in objects]
            texts += [repr(r.to_dict()) for r in ledger_rows]

        async def many() -> list[Any]:
            async with client(platform, Ledger(ledger_path)) as ac:
                got = await ac.launch_many([spec_for(name, i) for i in range(10, 16)], batch="m")
                seen = [s async for s in ac.watch([g.ref for g in got], poll=PollSchedule(0.05))]
                return [ac, *got, *seen]

        texts += [repr(o) for o in asyncio.run(many())]
    # failures: wrong credentials, a hostile platform, a dead one
    wrong = {"ica": {"x_api_key": WRONG_ICA_KEY}, "codeocean": {"api_token": WRONG_CO_TOKEN}}
    errors: list[RunhubError] = []
    with serve(name, speed=100.0) as platform:
        settings = {name: {**platform.settings[name], **wrong[name]}}
        with Client(settings=settings, plugins=registry(), policy=POLICY) as c:
            errors += _failures(c, name)
            texts += [repr(c), repr(c.backend(name)), repr(c.backend(name).settings)]
    with EchoPlatform(name) as echo:
        url_key = "server_url" if name == "ica" else "url"
        settings = {name: {**platform.settings[name], url_key: echo.server.url}}
        for echo.app.status in (400, 401, 403, 500):
            with Client(settings=settings, plugins=registry(), policy=POLICY) as c:
                errors += _failures(c, name)
    dead = {name: {**platform.settings[name]}}
    dead[name]["server_url" if name == "ica" else "url"] = "http://127.0.0.1:9"
    with Client(settings=dead, plugins=registry(), policy=POLICY) as c:
        errors += _failures(c, name)
    assert len(errors) >= 15
    for error in errors:
        texts += [str(error), repr(error), repr(error.args), repr(vars(error))]
    texts += records.lines
    texts += [p.read_bytes().decode("latin-1") for p in tmp_path.glob("ledger.sqlite*")]
    assert records.lines, "nothing was logged: the scan would prove nothing"
    assert [t for t in texts if leaks(t)] == []


def _failures(c: Client, name: str) -> list[RunhubError]:
    errors: list[RunhubError] = []
    ref = f"{name}:0d4f6a1e-6b1c-4a8e-9a51-2f3c5b7e8d90/7f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"
    if name == "codeocean":
        ref = "codeocean:7f1c2d3e-aaaa-4bbb-8ccc-0123456789ab"
    attempts = (
        lambda: c.launch(spec_for(name, 1)),
        lambda: c.dry_run(spec_for(name, 1)),
        lambda: c.status(ref),
        lambda: c.cancel(ref),
        lambda: c.outputs(ref),
    )
    for attempt in attempts:
        try:
            attempt()
        except RunhubError as error:
            errors.append(error)
    return errors


def test_cassettes_hold_no_credentials() -> None:
    """Every committed cassette: none of our secrets, none of the keys the plugin
    tests record with, and no credential header left in."""
    cassettes = sorted((REPO / "cassettes").rglob("*.yaml"))
    assert cassettes, "no cassettes found"
    recording = [
        "emulator-recording-key-7c1d",  # tests/ica/test_cassettes.py
        "emulator-token",  # tests/codeocean: the emulator's default token
        basic("emulator-token"),
    ]
    for path in cassettes:
        text = path.read_text()
        assert leaks(text) == [], path
        assert [r for r in recording if r in text] == [], path
        lowered = text.lower()
        for header in ("x-api-key:", "authorization:", "basic ", "bearer "):
            assert header not in lowered, (path, header)
