"""Envoy's gradient controller (spec §4.6) under a fake clock, with its failure modes."""

from __future__ import annotations

import math
import random

import pytest

from healthgauge.overload import ConfigError, EnvoyGradientLimit

MS = 0.001


def finish_min_rtt_window(limit: EnvoyGradientLimit, t: float, rtt: float = 10 * MS) -> float:
    limit.on_admission(t, 0, False)  # the first event opens the first minRTT window
    for _ in range(limit.request_count):
        limit.on_sample(t + rtt, t, rtt, 1, False)  # received after the epoch
        t += 0.001
    return t + rtt


def test_starts_pinned_to_min_concurrency_and_learns_min_rtt_from_request_count_samples() -> None:
    limit = EnvoyGradientLimit(rng=random.Random(1))
    limit.on_admission(0.0, 0, False)
    assert limit.in_min_rtt_window
    assert limit.limit == 3
    finish_min_rtt_window(limit, 0.0)
    assert not limit.in_min_rtt_window
    assert limit.min_rtt == pytest.approx(10 * MS)
    assert limit.limit == 3  # restored to the deferred value, which was the start value


def test_update_formula_gradient_times_limit_plus_sqrt() -> None:
    limit = EnvoyGradientLimit(rng=random.Random(1))
    t = finish_min_rtt_window(limit, 0.0)
    limit.limit = 100.0
    for _ in range(10):
        t += 0.005
        limit.on_sample(t, t - 25 * MS, 25 * MS, 100, False)
    t += 0.2
    limit.on_admission(t, 0, False)  # the 100 ms timer fires lazily
    # g = clamp(10 × 1.25 / 25, 0.5, 2) = 0.5; x = 50; int(50 + sqrt 50) = 57
    assert limit.limit == 57


def test_grows_to_max_at_low_load_without_the_application_limited_guard() -> None:
    """§4.6 failure mode: no application-limited guard and g up to 2 (prototype: 3 → 1000 in 15 s)."""

    def run(guard: bool) -> float:
        limit = EnvoyGradientLimit(rng=random.Random(1), app_limited_guard=guard)
        t = finish_min_rtt_window(limit, 0.0)
        for _ in range(300):  # 30 s of 10 requests per 100 ms, 2 in flight, no queueing
            for _ in range(10):
                t += 0.01
                limit.on_sample(t, t - 10 * MS, 10 * MS, 2, False)
        return limit.limit

    assert run(False) == 1000
    assert run(True) < 20


def test_samples_from_before_the_min_rtt_epoch_are_ignored() -> None:
    """#11579: completions of requests received before the window must not become minRTT."""
    limit = EnvoyGradientLimit(rng=random.Random(1))
    limit.on_admission(1.0, 0, False)
    for _ in range(100):
        limit.on_sample(1.5, 0.5, 1.0, 1, False)  # received at 0.5, before the epoch at 1.0
    assert limit.in_min_rtt_window
    finish_min_rtt_window(limit, 1.5, rtt=5 * MS)
    assert limit.min_rtt == pytest.approx(5 * MS)


def test_five_updates_at_the_floor_reopen_the_min_rtt_window() -> None:
    """#10647: a limit stuck at min_concurrency re-measures its baseline at once."""
    limit = EnvoyGradientLimit(rng=random.Random(1))
    t = finish_min_rtt_window(limit, 0.0, rtt=1 * MS)  # a baseline too low: everything looks queued
    windows = 0
    for _ in range(8):
        for _ in range(5):
            t += 0.02
            limit.on_sample(t, t - 50 * MS, 50 * MS, 3, False)
        limit.on_admission(t, 0, False)
        windows += limit.in_min_rtt_window
        if limit.in_min_rtt_window:
            break
    assert limit.in_min_rtt_window
    assert limit.limit == 3


def test_min_rtt_window_recurs_with_jitter() -> None:
    limit = EnvoyGradientLimit(min_rtt_interval=10.0, jitter=0.5, rng=random.Random(7))
    t = finish_min_rtt_window(limit, 0.0)
    opened = math.inf
    while t < 30:
        t += 0.01
        limit.on_sample(t, t - 10 * MS, 10 * MS, 2, False)
        if limit.in_min_rtt_window:
            opened = t
            break
    assert 10.0 < opened < 15.1


def test_floor_separate_from_probe_concurrency() -> None:
    """#46602: the floor and the probe concurrency are separate settings."""
    limit = EnvoyGradientLimit(min_concurrency=3, min_limit=10, rng=random.Random(1))
    t = finish_min_rtt_window(limit, 0.0)
    for _ in range(5):
        t += 0.02
        limit.on_sample(t, t - 100 * MS, 100 * MS, 3, False)
    limit.on_admission(t + 0.2, 0, False)
    assert limit.limit >= 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"min_rtt_interval": 0}, "requires fixed_min_rtt"),
        ({"jitter": 1.5}, "jitter must lie"),
        ({"min_concurrency": 0}, "min_concurrency must be ≥ 1"),
    ],
)
def test_invalid_configuration_is_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EnvoyGradientLimit(**kwargs)  # type: ignore[arg-type]


def test_fixed_min_rtt_without_windows() -> None:
    limit = EnvoyGradientLimit(min_rtt_interval=0, fixed_min_rtt=10 * MS, rng=random.Random(1))
    limit.on_admission(0.0, 0, False)
    assert not limit.in_min_rtt_window
    assert limit.min_rtt == pytest.approx(10 * MS)
