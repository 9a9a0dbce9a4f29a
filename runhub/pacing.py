"""Adaptive pacing under rate limits, shared by the sync and async drivers.

Kept apart from the drivers: it is pure arithmetic on a clock (no I/O), so it can be
reasoned about and tested on its own.
"""

from __future__ import annotations

import time
from collections import deque


class Pacer:
    """Adaptive pacing under rate limits (additive increase, multiplicative decrease).

    Unlimited until the platform answers 429. Then requests are spaced at 85% of
    the rate that drew the 429 (and held back for any ``Retry-After``, for every
    request, not only the one that got it). Each success raises the rate by about
    one request per second per second while below 95% of the last paced rate that
    drew a 429 (the ``ceiling``; the first 429 answers a burst, which sets none),
    and about three times more gently above it, so the pace stays just under the
    limit and probes past it rarely.
    The rate drops only for a 429 to a request paced after the last drop, and not
    within ``guard`` seconds of it (once per ``window`` when the send time is not
    known): 429s to requests sent at the old pace tell nothing new, and cutting
    once for each of them would pace far below the limit.
    """

    decrease = 0.85
    window = 1.0
    guard = 0.5
    #: Increase per second below / above 95% of the ceiling.
    climb = 1.0
    probe = 0.3

    def __init__(self) -> None:
        self.rate: float | None = None
        #: The last rate that drew a 429 (None until one did).
        self.ceiling: float | None = None
        self._next = 0.0
        self._paused_until = 0.0
        #: Send times within the last ``window`` (oldest first).
        self._recent: deque[float] = deque()
        self._cut_at = float("-inf")
        self._paced_from = float("-inf")
        #: 429 answers seen (benchmarks report the share).
        self.throttled = 0

    def delay(self) -> float:
        """Seconds to wait before sending the next request (and reserve its slot)."""
        now = time.monotonic()
        recent = self._recent
        recent.append(now)
        while recent[0] < now - self.window:  # O(1) per request: each time leaves once
            recent.popleft()
        slot = max(now, self._paused_until)
        if self.rate is not None:
            slot = max(slot, self._next)
            self._next = slot + 1.0 / self.rate
        return slot - now

    def success(self) -> None:
        """An answer that was not a 429."""
        if self.rate is not None:
            below = self.ceiling is None or self.rate < 0.95 * self.ceiling
            self.rate += (self.climb if below else self.probe) / self.rate

    def throttle(self, retry_after: float | None, sent_at: float | None = None) -> None:
        """A 429 (to a request sent at ``sent_at``, monotonic): slow down, and pause
        everyone for ``retry_after`` seconds."""
        self.throttled += 1
        now = time.monotonic()
        # Right after a cut the platform's bucket is still empty, and uneven arrival
        # alone draws 429s: wait ``guard`` before cutting again.
        settled = now - self._cut_at >= (self.guard if sent_at is not None else self.window)
        if settled and (sent_at is None or sent_at > self._paced_from):
            self._cut_at = now
            # slots handed out before now keep the old spacing: their 429s are stale
            self._paced_from = max(now, self._next)
            observed = sum(1 for t in self._recent if t >= now - self.window) / self.window
            if self.rate is None:  # a burst, not a rate: no ceiling learnt yet
                self.rate = max(0.5, max(observed, 1.0) * self.decrease)
            else:
                self.ceiling = min(self.rate, max(observed, 1.0))
                self.rate = max(0.5, self.ceiling * self.decrease)
        if retry_after:
            self._paused_until = max(self._paused_until, now + retry_after)
