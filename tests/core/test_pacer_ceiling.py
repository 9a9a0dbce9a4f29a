"""Pacer: 429s to requests paced at an old rate do not cut again; the last rate that
drew a 429 is a ceiling the pace approaches quickly and passes only gently."""

from __future__ import annotations

import time

import pytest

from runhub.transport import Pacer


def throttled_pacer() -> Pacer:
    pacer = Pacer()
    for _ in range(20):
        pacer.delay()
    pacer.throttle(None, sent_at=time.monotonic())  # a burst drew it: no ceiling yet
    return pacer


def test_a_burst_sets_a_rate_but_no_ceiling() -> None:
    pacer = throttled_pacer()
    assert pacer.rate == pytest.approx(20 * Pacer.decrease, rel=0.01)
    assert pacer.ceiling is None


def test_429s_to_requests_paced_before_the_cut_do_not_cut_again() -> None:
    pacer = throttled_pacer()
    rate = pacer.rate
    before = time.monotonic() - 1.0  # sent before the cut, at the old pace
    pacer._cut_at -= 10  # long after the cut: only the send time decides
    for _ in range(5):
        pacer.throttle(None, sent_at=before)
    assert pacer.rate == rate
    assert pacer.throttled == 6


def test_a_paced_429_sets_the_ceiling_and_successes_slow_down_near_it() -> None:
    pacer = throttled_pacer()
    assert pacer.rate is not None
    pacer._cut_at -= 10
    later = pacer._paced_from + 1.0
    rate = pacer.rate
    pacer.throttle(None, sent_at=later)
    assert pacer.ceiling == pytest.approx(rate)
    assert pacer.rate == pytest.approx(rate * Pacer.decrease)
    low = pacer.rate
    pacer.success()
    fast = pacer.rate - low
    pacer.rate = pacer.ceiling
    pacer.success()
    slow = pacer.rate - pacer.ceiling
    assert fast > 2 * slow > 0


def test_no_second_cut_within_the_guard() -> None:
    pacer = throttled_pacer()
    rate = pacer.rate
    pacer.throttle(None, sent_at=pacer._paced_from + 1.0)  # fresh, but right after the cut
    assert pacer.rate == rate
