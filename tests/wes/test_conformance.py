"""The runhub conformance suite against real WES servers: sapporo and wes-service.

wes-service's cwl_runner backend accepts ``POST /runs/{id}/cancel`` and does nothing
(``wes_service/cwl_runner.py``: ``Workflow.cancel`` is an empty method), so on it
the suite's cancel test is replaced by one asserting that runhub reports what the
server says, a run still going, and never a cancellation that did not happen.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import ClassVar

import pytest

pytest.importorskip("runhub_wes", reason="runhub-wes is not installed (pip install -e plugins/wes)")

from runhub.backend import RunRef
from runhub.client import Client
from runhub.spec import RunSpec
from runhub.state import RunState
from runhub.testing.conformance import BackendConformance

from .conftest import EXAMPLES, workflow
from .servers import WesServer, run_ids


class _WesConformance(BackendConformance):
    backend_name: ClassVar[str] = "wes"
    wait_timeout: ClassVar[float] = 60.0
    advance_step: ClassVar[float] = 0.0
    server_fixture: ClassVar[str]
    #: Credentials sent on every request (these servers run without auth and ignore
    #: them), so the suite's redaction checks have secrets to look for.
    credentials: ClassVar[dict[str, str]]

    @pytest.fixture
    def client(self, request: pytest.FixtureRequest) -> Iterator[Client]:
        self.server: WesServer = request.getfixturevalue(self.server_fixture)
        settings = {**self.server.settings(), **self.credentials}
        with Client(settings={"wes": settings}) as client:
            yield client

    def make_spec(self, kind: str) -> RunSpec:
        if kind == "succeed":
            return RunSpec(
                pipeline=(EXAMPLES / "echo.cwl").as_uri(), parameters={"message": "conformance"}
            )
        if kind == "fail":
            return RunSpec(pipeline=workflow("fail.cwl"))
        return RunSpec(pipeline=workflow("sleep.cwl"), parameters={"seconds": 20})

    def invalid_spec(self) -> RunSpec:
        return RunSpec(pipeline=(EXAMPLES / "echo.cwl").as_uri(), parameters=["hi"])

    def run_count(self, client: Client) -> int:
        return len(run_ids(self.server))


class TestSapporoConformance(_WesConformance):
    server_fixture = "sapporo"
    credentials: ClassVar[dict[str, str]] = {"token": "wes-conformance-token-5d1e9a"}

    def missing_ref(self) -> RunRef:
        return RunRef("wes", str(uuid.uuid4()))  # sapporo: 400 for a malformed id


class TestWesServiceConformance(_WesConformance):
    server_fixture = "wes_service"
    credentials: ClassVar[dict[str, str]] = {
        "username": "runhub",
        "password": "wes-conformance-password-8c2f",
    }

    def test_cancel_ends_cancelled(self, client: Client) -> None:
        launched = self.launch(client, "slow")
        answer = client.cancel(launched.ref)
        assert answer.ref == launched.ref
        # The server ignored the cancel: runhub says so, and claims nothing else.
        assert answer.state is RunState.RUNNING, answer
        assert answer.native == "RUNNING"
        assert "cancel requested" in (answer.message or "")
        assert client.status(launched.ref).state is RunState.RUNNING
