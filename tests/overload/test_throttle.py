"""Client-side adaptive throttle and retry budget (spec §6.1-6.2)."""

from __future__ import annotations

import random

import pytest

from healthgauge.overload import AdaptiveThrottle, ConfigError, RetryBudget, retry_backoff
from healthgauge.testing import FakeClock


def test_probability_follows_the_sre_formula() -> None:
    clock = FakeClock()
    throttle = AdaptiveThrottle(clock=clock, max_probability=1.0, rng=random.Random(1))
    for i in range(10):
        throttle.allow()  # counted at send, whether sent or rejected locally
        if i < 2:
            throttle.record(True)
    # requests 10, accepts 2: p = (10 − 2·2) / 11
    assert throttle.probability() == pytest.approx(6 / 11)
    for _ in range(100):
        throttle.allow()
    assert throttle.probability() == pytest.approx((110 - 4) / 111)
    capped = AdaptiveThrottle(clock=clock, rng=random.Random(1))
    for _ in range(100):
        capped.allow()
    assert capped.probability() == 0.8  # Envoy admission_control's max_rejection_probability


def test_a_healthy_backend_is_never_throttled() -> None:
    clock = FakeClock()
    throttle = AdaptiveThrottle(clock=clock, rng=random.Random(1))
    for _ in range(10_000):
        clock.advance(0.001)
        assert throttle.allow()
        throttle.record(True)
    assert throttle.statistics().throttled == 0


def test_a_dead_backend_sees_at_most_about_k_times_the_accepted_rate() -> None:
    clock = FakeClock()
    throttle = AdaptiveThrottle(clock=clock, rng=random.Random(2))
    sent = 0
    for i in range(20_000):
        clock.advance(0.0005)
        if throttle.allow():
            sent += 1
            throttle.record(i % 10 == 0)  # 10 % of what is sent is accepted
    stats = throttle.statistics()
    assert stats.throttled > 10_000
    # The backend accepted ~sent/10, so it sees ≈ K × accepts + the +1 slack.
    assert sent < 2 * (sent / 10) * 10


def test_recovery_within_about_one_window() -> None:
    """Prototype S4: a 120-s window kept throttling 36-40 s after the overload. Without the
    probability cap, a total outage leaves p ≈ R/(R+1) and recovery takes minutes (§6.1)."""
    clock = FakeClock()
    throttle = AdaptiveThrottle(clock=clock, rng=random.Random(3))
    for _ in range(5000):  # 5 s of everything rejected
        clock.advance(0.001)
        if throttle.allow():
            throttle.record(False)
    assert throttle.probability() == 0.8  # capped: a fifth still reaches the backend
    recovered_at = None
    for step in range(20_000):  # the backend is healthy again
        clock.advance(0.001)
        if throttle.allow():
            throttle.record(True)
        if recovered_at is None and throttle.probability() == 0:
            recovered_at = step * 0.001
    assert recovered_at is not None
    assert recovered_at <= 15.0


def test_retry_after_holds_every_request_while_it_applies() -> None:
    clock = FakeClock()
    throttle = AdaptiveThrottle(clock=clock, rng=random.Random(4))
    assert throttle.allow()
    throttle.record(False, retry_after=2)
    clock.advance(1.9)
    assert not throttle.allow()
    clock.advance(0.2)
    assert throttle.probability() < 1
    ignoring = AdaptiveThrottle(clock=clock, honor_retry_after=False, rng=random.Random(4))
    ignoring.allow()
    ignoring.record(False, retry_after=2)
    assert ignoring.statistics().hold_until == float("-inf")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"k": 0.5}, "k must be ≥ 1"), ({"window": 1.0}, "at least two buckets"), ({"bucket": 0}, "bucket must be")],
)
def test_throttle_validates(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AdaptiveThrottle(**kwargs)  # type: ignore[arg-type]


def test_retry_budget_keeps_retries_to_a_tenth_of_first_attempts() -> None:
    budget = RetryBudget()
    retried = 0
    for _ in range(1000):
        budget.on_first_attempt()
        if budget.try_retry(1):
            retried += 1
    assert retried == pytest.approx(10 + 100, abs=2)  # the initial 10 tokens, then 0.1 per attempt
    assert not budget.try_retry(3)  # never more than 3 attempts
    stats = budget.statistics()
    assert stats.first_attempts == 1000
    assert stats.denied > 0


def test_retry_backoff_is_exponential_with_jitter() -> None:
    rng = random.Random(5)
    for k in range(3):
        for _ in range(100):
            delay = retry_backoff(k, rng)
            assert 0.05 * 2**k * 0.5 <= delay < 0.05 * 2**k * 1.5
