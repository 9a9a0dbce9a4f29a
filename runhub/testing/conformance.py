"""The backend conformance suite: one test class every runhub backend must pass.

A plugin author subclasses :class:`BackendConformance` in a test module, with a
name starting with ``Test`` so pytest collects it, and provides:

- ``backend_name``: the backend's registered name;
- a pytest fixture ``client`` yielding a configured :class:`runhub.client.Client`
  (for an emulator: ``Client(settings=..., transport=mock_transport(app))``);
- ``make_spec(kind)`` for kinds ``"succeed"``, ``"fail"`` and ``"slow"`` (runs long
  enough to be cancelled);
- ``invalid_spec()``: a spec the model accepts but the backend's ``validate``
  rejects with :class:`~runhub.errors.SpecError`.

Optional hooks: ``advance(client, seconds)`` moves emulated time forward between
polls (default: nothing, real time passes); ``run_count(client)`` counts the runs the
platform holds, so the suite can check that an invalid spec launched nothing;
``missing_ref()`` names a run that does not exist.

::

    class TestEchoConformance(BackendConformance):
        backend_name = "echo"

        @pytest.fixture
        def client(self):
            with Client(settings=..., transport=mock_transport(EchoApp())) as client:
                yield client

        def make_spec(self, kind):
            return RunSpec(pipeline={"succeed": "ok", "fail": "boom", "slow": "sleepy"}[kind])

        def invalid_spec(self):
            return RunSpec(pipeline="ok", processes={"step": ["1"]})
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any, ClassVar

import pytest

from runhub.backend import Backend, Capabilities, RunRef
from runhub.client import Client, PollSchedule
from runhub.config import BackendSettings
from runhub.errors import NotFound, RunhubError, SpecError, WaitTimeout
from runhub.spec import RunSpec
from runhub.state import RunState, RunStatus

#: A native state no platform has (yet): it must map to UNKNOWN, never raise.
FUTURE_STATE = "SOME-STATE-FROM-THE-FUTURE"


class BackendConformance:
    """Subclass as ``Test<Something>`` to run the conformance suite on a backend."""

    __test__: ClassVar[bool] = False

    #: The backend's registered name.
    backend_name: ClassVar[str]
    #: Poll fast: conformance runs are short.
    poll: ClassVar[PollSchedule] = PollSchedule(initial=0.01, cap=0.05, jitter=0.0)
    #: Real seconds a run may take to finish in these tests.
    wait_timeout: ClassVar[float] = 30.0
    #: Emulated seconds passed to ``advance`` before each round of polling.
    advance_step: ClassVar[float] = 5.0
    #: States that count as "cancelled" once a cancel has settled.
    cancelled_states: ClassVar[frozenset[RunState]] = frozenset({RunState.CANCELLED})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Collected only under a Test... name, so abstract intermediates stay quiet.
        if "__test__" not in cls.__dict__:
            cls.__test__ = cls.__name__.startswith("Test")

    # -- what a subclass provides ------------------------------------------------------

    @pytest.fixture
    def client(self) -> Client:
        """Override: yield a Client configured for the backend under test."""
        raise NotImplementedError(f"{type(self).__name__} must define a `client` fixture")

    def make_spec(self, kind: str) -> RunSpec:
        """Override: a spec that will ``succeed``, ``fail``, or run ``slow``."""
        raise NotImplementedError(f"{type(self).__name__} must define make_spec(kind)")

    def invalid_spec(self) -> RunSpec:
        """Override: a spec the backend's ``validate`` rejects with SpecError."""
        raise NotImplementedError(f"{type(self).__name__} must define invalid_spec()")

    def advance(self, client: Client, seconds: float) -> None:
        """Move emulated time forward by ``seconds`` (default: real time only)."""

    def run_count(self, client: Client) -> int | None:
        """How many runs the platform holds, or None if the suite cannot tell."""
        return None

    def missing_ref(self) -> RunRef:
        """A reference to a run that does not exist on the platform."""
        return RunRef(self.backend_name, "runhub-conformance-no-such-run")

    # -- helpers ------------------------------------------------------------------------

    def backend(self, client: Client) -> Backend:
        return client.backend(self.backend_name)

    def wait_for(self, client: Client, ref: RunRef) -> RunStatus:
        """Advance time and poll (through ``client.wait``) until the run is terminal."""
        deadline = time.monotonic() + self.wait_timeout
        while True:
            self.advance(client, self.advance_step)
            try:
                return client.wait(ref, timeout=0.2, poll=self.poll)
            except WaitTimeout as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(
                        f"{ref} not finished after {self.wait_timeout:g} s: {exc.last}"
                    ) from None

    def launch(self, client: Client, kind: str, **kwargs: Any) -> RunStatus:
        status = client.launch(self.make_spec(kind), self.backend_name, **kwargs)
        assert isinstance(status, RunStatus)
        assert status.ref.backend == self.backend_name
        return status

    # -- the suite -------------------------------------------------------------------------

    def test_backend_declares_itself(self, client: Client) -> None:
        backend = self.backend(client)
        assert backend.name == self.backend_name
        assert isinstance(backend.capabilities, Capabilities)
        assert isinstance(backend.settings, BackendSettings)
        assert isinstance(backend.settings, type(backend).settings_model)

    def test_launch_then_succeed_with_outputs(self, client: Client) -> None:
        launched = self.launch(client, "succeed")
        current = client.status(launched.ref)
        assert current.ref == launched.ref
        assert current.state not in (RunState.FAILED, RunState.CANCELLED), current
        done = self.wait_for(client, launched.ref)
        assert done.state is RunState.SUCCEEDED, done
        assert done.ok
        assert done.to_wes() == "COMPLETE"
        if self.backend(client).capabilities.outputs:
            outputs = client.outputs(done.ref)
            assert outputs, "a succeeded run of make_spec('succeed') must have outputs"
            for output in outputs:
                assert isinstance(output.path, str)
                assert output.path
                assert output.kind in ("file", "folder")

    def test_failing_run_ends_failed(self, client: Client) -> None:
        done = self.wait_for(client, self.launch(client, "fail").ref)
        assert done.state is RunState.FAILED, done
        assert done.is_terminal
        assert not done.ok

    def test_cancel_ends_cancelled(self, client: Client) -> None:
        capabilities = self.backend(client).capabilities
        if not capabilities.cancel:
            pytest.skip(f"the {self.backend_name} backend declares cancel=False")
        launched = self.launch(client, "slow")
        answer = client.cancel(launched.ref)
        assert answer.ref == launched.ref
        assert answer.state not in (RunState.SUCCEEDED, RunState.FAILED), answer
        try:
            done = self.wait_for(client, launched.ref)
        except NotFound:
            # A destructive cancel may remove the run itself; that is its promise.
            assert capabilities.cancel_is_destructive, "the cancelled run vanished"
            return
        assert done.state in self.cancelled_states, done

    def test_unknown_native_state_is_unknown_and_never_raises(self, client: Client) -> None:
        backend = self.backend(client)
        assert backend.state_of(FUTURE_STATE) is RunState.UNKNOWN
        assert backend.state_of(FUTURE_STATE.lower()) is RunState.UNKNOWN
        assert backend.state_of(None) is RunState.UNKNOWN
        assert isinstance(backend.state_of(""), RunState)

    def test_invalid_spec_is_rejected_before_any_launch(self, client: Client) -> None:
        spec = self.invalid_spec()
        before = self.run_count(client)
        with pytest.raises(SpecError):
            self.backend(client).validate(spec)
        with pytest.raises(SpecError):
            client.validate(spec, self.backend_name)
        with pytest.raises(SpecError):
            client.launch(spec, self.backend_name)
        assert self.run_count(client) == before

    def test_ref_round_trips_through_text(self, client: Client) -> None:
        ref = self.launch(client, "succeed").ref
        text = str(ref)
        assert text.startswith(f"{self.backend_name}:")
        assert RunRef.parse(text) == ref
        assert client.status(text).ref == ref
        self.wait_for(client, ref)

    def test_statuses_answer_in_the_order_asked(self, client: Client) -> None:
        first = self.launch(client, "succeed").ref
        second = self.launch(client, "succeed").ref
        assert first != second
        answers = client.statuses([second, first])
        assert [a.ref for a in answers] == [second, first]
        self.wait_for(client, first)
        self.wait_for(client, second)

    def test_same_launch_key_gives_the_same_run(self, client: Client) -> None:
        if not self.backend(client).capabilities.idempotent_launch:
            # Without a platform key, a repeated key is a new launch by design; the
            # exactly-once guarantee comes from the ledger (next test).
            assert type(self.backend(client)).recover is not Backend.recover, (
                f"{self.backend_name} declares idempotent_launch=False, so it must "
                "override Backend.recover to find runs of interrupted launches"
            )
            return
        key = f"conformance-{uuid.uuid4().hex}"
        first = self.launch(client, "succeed", key=key)
        again = self.launch(client, "succeed", key=key)
        assert again.ref == first.ref
        self.wait_for(client, first.ref)

    def test_interrupted_launch_is_not_launched_twice(
        self, client: Client, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """A crash between the launch request and the ledger write, then the same
        row launched again: the platform's key or ``Backend.recover`` finds the
        first run, and no second run is created."""
        from runhub.ledger import Ledger

        backend = self.backend(client)
        spec = self.make_spec("succeed")
        ledger = Ledger(tmp_path_factory.mktemp("conformance") / "ledger.sqlite")
        record = ledger.intent(self.backend_name, spec.digest(), batch="conf", row_key="r1")
        ledger.attempt(record.key)
        before = self.run_count(client)
        # The request reaches the platform; its answer never reaches the ledger, and
        # the process dies: a new one starts with fresh backends.
        first = client.driver(backend).run(backend.launch(spec, record.key, batch="conf"))
        client.reset_backends()
        client.ledger = ledger
        try:
            again = client.launch(spec, self.backend_name, batch="conf", row_key="r1")
        finally:
            client.ledger = None
        assert again.ref == first.ref
        if before is not None:
            assert self.run_count(client) == before + 1
        self.wait_for(client, first.ref)

    def test_unknown_run_is_a_clear_error(self, client: Client) -> None:
        with pytest.raises(RunhubError) as err:
            client.status(self.missing_ref())
        assert str(err.value)

    def test_secrets_never_appear(self, client: Client, caplog: pytest.LogCaptureFixture) -> None:
        caplog.set_level(logging.DEBUG)
        backend = self.backend(client)
        secrets = backend.secrets()
        assert all(isinstance(s, str) for s in secrets)
        texts: list[str] = []
        launched = self.launch(client, "succeed")
        statuses = [launched, client.status(launched.ref), self.wait_for(client, launched.ref)]
        statuses += client.statuses([launched.ref])
        for status in statuses:
            texts += [repr(status), str(status.to_dict()), str(status.extra)]
        try:
            client.status(self.missing_ref())
        except RunhubError as exc:
            texts += [str(exc), repr(exc), repr(exc.args)]
        try:
            client.launch(self.invalid_spec(), self.backend_name)
        except RunhubError as exc:
            texts += [str(exc), repr(exc)]
        texts.append(client.dry_run(self.make_spec("succeed"), self.backend_name).render())
        texts += [repr(client), repr(backend), repr(backend.settings), str(backend.settings)]
        texts += [record.getMessage() for record in caplog.records]
        texts.append(caplog.text)
        for number, secret in enumerate(secrets):
            for text in texts:
                if secret in text:  # never echo the secret itself in the failure report
                    shown = text.replace(secret, "<SECRET>")[:300]
                    pytest.fail(f"secret #{number} of backend.secrets() leaked into: {shown}")


__all__ = ["FUTURE_STATE", "BackendConformance"]
