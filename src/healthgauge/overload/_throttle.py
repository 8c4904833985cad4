"""Client side: the SRE book's adaptive throttle and a retry budget (spec §6.1-6.2).

Adaptive throttling ("Handling Overload"): a client rejects locally with probability
``max(0, (requests − K × accepts) / (requests + 1))`` over a sliding window, so the backend sees
at most about ``K ×`` its accepted rate. Accounting follows zeromicro/go-zero#5011 and spec §6.1:
``requests`` are counted at send time, local rejections included; an *accept* is any response
that is not an overload rejection (503/429 from a shedder and client timeouts are not accepts;
4xx and 500 are, the backend did the work).

The book's 2-minute window recovers slowly: the overload's rejections stay in it after the
overload ends, and locally throttled attempts add to ``requests`` but never to ``accepts``
(prototype S4: 36-40 s to recover, 14-23 % still throttled). healthgauge's defaults: 1-s buckets,
a 10-s window (keep it ≥ 5 × the client deadline), and ``Retry-After`` honoured per backend
instead of probabilistic throttling while it applies.

The SRE formula also has a trap after a total outage: with no accepts in the window, ``p`` tends
to ``R / (R + 1)`` and the client sends about one request per window, so recovery only doubles the
accept count per window turnover (tens of windows at high rates). ``max_probability`` caps ``p``
(default 0.8, Envoy's ``admission_control`` filter's ``max_rejection_probability``): at least a
fifth of the requests still reach the backend, which then recovers within about one window.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

from healthgauge.overload._types import Clock
from healthgauge.overload.limits._limit import require


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleStatistics:
    """Window counts, the current local-rejection probability, and totals since creation."""

    requests: int
    accepts: int
    probability: float
    hold_until: float
    sent: int
    throttled: int


class AdaptiveThrottle:
    """Client-side adaptive throttling for one backend (SRE book), with time-bucketed counters.

    Call ``allow()`` before sending (it counts the request, and returns False to reject it locally),
    then ``record(accepted, retry_after=...)`` when the answer arrives (or the client times out).
    """

    __slots__ = (
        "_accepts",
        "_bucket_accepts",
        "_bucket_requests",
        "_clock",
        "_current",
        "_hold_until",
        "_requests",
        "_rng",
        "_sent",
        "_throttled",
        "bucket",
        "honor_retry_after",
        "k",
        "max_probability",
        "window",
    )

    def __init__(
        self,
        *,
        k: float = 2.0,
        window: float = 10.0,
        bucket: float = 1.0,
        max_probability: float = 0.8,
        honor_retry_after: bool = True,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        require(k >= 1.0, f"k must be ≥ 1 (below 1 it throttles a healthy backend), got {k!r}")
        require(0 < max_probability <= 1, f"max_probability must lie in (0, 1], got {max_probability!r}")
        require(bucket > 0, f"bucket must be > 0 s, got {bucket!r}")
        require(window >= 2 * bucket, f"window ({window!r} s) must span at least two buckets of {bucket!r} s")
        self.k = float(k)
        self.window = float(window)
        self.bucket = float(bucket)
        self.max_probability = float(max_probability)
        self.honor_retry_after = honor_retry_after
        self._clock = clock
        self._rng = random.Random() if rng is None else rng
        count = math.ceil(window / bucket)
        self._bucket_requests = [0] * count
        self._bucket_accepts = [0] * count
        self._current = math.floor(clock() / bucket)
        self._requests = 0
        self._accepts = 0
        self._hold_until = -math.inf
        self._sent = 0
        self._throttled = 0

    def _roll(self, now: float) -> None:
        index = math.floor(now / self.bucket)
        if index <= self._current:
            return
        size = len(self._bucket_requests)
        for step in range(self._current + 1, min(index, self._current + size) + 1):
            slot = step % size
            self._requests -= self._bucket_requests[slot]
            self._accepts -= self._bucket_accepts[slot]
            self._bucket_requests[slot] = 0
            self._bucket_accepts[slot] = 0
        self._current = index

    def probability(self, now: float | None = None) -> float:
        """The local rejection probability now."""
        self._roll(self._clock() if now is None else now)
        p = (self._requests - self.k * self._accepts) / (self._requests + 1)
        return min(self.max_probability, max(0.0, p))

    def allow(self) -> bool:
        """Count one request at send time; False means reject it locally (do not send)."""
        now = self._clock()
        self._roll(now)
        slot = self._current % len(self._bucket_requests)
        self._bucket_requests[slot] += 1
        self._requests += 1
        if now < self._hold_until:
            self._throttled += 1
            return False
        p = (self._requests - 1 - self.k * self._accepts) / self._requests  # before this request
        if p > 0 and self._rng.random() < min(p, self.max_probability):
            self._throttled += 1
            return False
        self._sent += 1
        return True

    def record(self, accepted: bool, retry_after: float | None = None) -> None:
        """The backend answered: ``accepted`` unless it was an overload rejection or a timeout.
        A ``retry_after`` (seconds) holds every request to this backend until it passes."""
        now = self._clock()
        self._roll(now)
        if accepted:
            slot = self._current % len(self._bucket_accepts)
            self._bucket_accepts[slot] += 1
            self._accepts += 1
        elif retry_after is not None and self.honor_retry_after and retry_after > 0:
            self._hold_until = max(self._hold_until, now + retry_after)

    def statistics(self) -> ThrottleStatistics:
        now = self._clock()
        return ThrottleStatistics(
            requests=self._requests,
            accepts=self._accepts,
            probability=self.probability(now),
            hold_until=self._hold_until,
            sent=self._sent,
            throttled=self._throttled,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryBudgetStatistics:
    tokens: float
    first_attempts: int
    retries: int
    denied: int


class RetryBudget:
    """Keep retries to about ``ratio`` of first attempts (SRE book; spec §6.2).

    A token bucket: each first attempt credits ``ratio`` tokens (capped at ``cap``), each retry
    spends one; no more than ``max_attempts`` attempts per request in any case. It starts full, so
    a healthy client can retry a rare failure at once.
    """

    __slots__ = ("_denied", "_first", "_retries", "cap", "max_attempts", "ratio", "tokens")

    def __init__(self, *, ratio: float = 0.1, cap: float = 10.0, max_attempts: int = 3) -> None:
        require(0 < ratio <= 1, f"ratio must lie in (0, 1], got {ratio!r}")
        require(cap >= 1, f"cap must be ≥ 1 token, got {cap!r}")
        require(max_attempts >= 1, f"max_attempts must be ≥ 1, got {max_attempts!r}")
        self.ratio = float(ratio)
        self.cap = float(cap)
        self.max_attempts = max_attempts
        self.tokens = float(cap)
        self._first = 0
        self._retries = 0
        self._denied = 0

    def on_first_attempt(self) -> None:
        self._first += 1
        self.tokens = min(self.cap, self.tokens + self.ratio)

    def try_retry(self, attempt: int) -> bool:
        """May attempt number ``attempt`` (1 = the first retry) be sent? Spends a token if so."""
        if attempt >= self.max_attempts or self.tokens < 1.0:
            self._denied += 1
            return False
        self.tokens -= 1.0
        self._retries += 1
        return True

    def statistics(self) -> RetryBudgetStatistics:
        return RetryBudgetStatistics(
            tokens=self.tokens, first_attempts=self._first, retries=self._retries, denied=self._denied
        )


def retry_backoff(failed_attempt: int, rng: random.Random, base: float = 0.05) -> float:
    """Exponential backoff with jitter: ``base × 2^k × U[0.5, 1.5)`` for failed attempt ``k``
    (0 for the original), as in spec §11.3."""
    return base * (2.0**failed_attempt) * (0.5 + rng.random())
