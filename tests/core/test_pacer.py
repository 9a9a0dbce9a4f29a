"""Adaptive pacing: unlimited until a 429, then spaced, then probing back up."""

from __future__ import annotations

import httpx
import pytest

from runhub.transport import Pacer, RetryPolicy, SyncDriver

from .conftest import ToyBackend


def test_unlimited_until_throttled() -> None:
    pacer = Pacer()
    assert [pacer.delay() for _ in range(50)] == [0.0] * 50
    assert pacer.rate is None


def test_a_429_sets_a_rate_below_the_observed_one_and_spaces_requests() -> None:
    pacer = Pacer()
    for _ in range(40):
        pacer.delay()  # 40 requests within the last second
    pacer.throttle(None)
    assert pacer.rate == pytest.approx(40 * Pacer.decrease, rel=0.01)
    first, second, third = pacer.delay(), pacer.delay(), pacer.delay()
    spacing = 1 / pacer.rate
    assert second - first == pytest.approx(spacing, abs=0.01)
    assert third - second == pytest.approx(spacing, abs=0.01)


def test_successes_probe_back_up_and_retry_after_pauses_everyone() -> None:
    pacer = Pacer()
    pacer.delay()
    pacer.throttle(2.0)
    rate = pacer.rate
    assert rate is not None
    assert pacer.delay() >= 1.9  # every request waits out the Retry-After
    for _ in range(10):
        pacer.success()
    assert pacer.rate is not None
    assert pacer.rate > rate


def test_driver_reports_throttles(toy: ToyBackend) -> None:
    answers = iter(
        [httpx.Response(429, headers={"Retry-After": "0"})]
        + [httpx.Response(200, json={"id": "r", "state": "done"})] * 3
    )
    driver = SyncDriver(
        httpx.Client(transport=httpx.MockTransport(lambda r: next(answers))),
        toy,
        RetryPolicy(wait_initial=0.001, wait_max=0.001, wait_jitter=0),
    )
    from runhub.backend import RunRef

    driver.run(toy.status(RunRef("toy", "r")))
    assert driver.pacer.throttled == 1
    assert driver.sent == 2
