"""Queue-delay detectors: folly's service CoDel (spec §2.2 vectors), RFC 8289 CoDel, DelayWindow."""

from __future__ import annotations

import itertools
import math

import pytest

from healthgauge.overload import CodelDetector, ConfigError, DelayWindow, FollyCodel, delay_load
from healthgauge.testing import FakeClock

MS = 0.001


def test_folly_vectors_from_the_spec() -> None:
    clock = FakeClock(0)
    codel = FollyCodel(clock=clock)
    clock.set(110 * MS)
    assert codel.overloaded(100 * MS) is False  # first of its interval: always served
    clock.set(200 * MS)
    assert codel.overloaded(50 * MS) is False  # first of the new interval (now marked overloaded)
    assert codel.is_overloaded
    assert codel.overloaded(50 * MS) is True  # 50 ms > slough timeout 10 ms: shed
    clock.set(310 * MS)
    assert codel.overloaded(2 * MS) is False
    assert codel.overloaded(2 * MS) is False  # below the slough timeout although overloaded
    assert codel.is_overloaded
    assert codel.statistics().drops == 1


@pytest.mark.parametrize(("min_delay_ms", "load"), [(10, 100), (7, 70), (2, 20), (0, 0), (50, 100)])
def test_folly_load(min_delay_ms: float, load: int) -> None:
    clock = FakeClock(0)
    codel = FollyCodel(clock=clock)
    codel.overloaded(min_delay_ms * MS)  # the first request of an interval sets the minimum
    assert codel.load() == load
    assert delay_load(min_delay_ms * MS, 0.005) == load


def test_folly_recovers_once_the_minimum_falls_below_target() -> None:
    clock = FakeClock(0)
    codel = FollyCodel(clock=clock)
    for t in range(1, 40):  # 30 ms standing delay
        clock.set(t * 10 * MS)
        codel.overloaded(30 * MS)
    assert codel.is_overloaded
    for t in range(40, 80):  # the queue empties
        clock.set(t * 10 * MS)
        codel.overloaded(1 * MS)
    assert not codel.is_overloaded


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 0.0}, "target must be > 0"),
        ({"target": 0.1, "interval": 0.1}, "interval .* must be > target"),
        ({"interval": -1.0}, "interval must be > 0"),
    ],
)
def test_invalid_detector_configuration_is_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        FollyCodel(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=message):
        CodelDetector(**kwargs)


def test_rfc8289_codel_drops_after_an_interval_above_target_at_sqrt_spacing() -> None:
    codel = CodelDetector()
    t = 0.0
    drops: list[float] = []
    while t < 1.0:
        if codel.on_dequeue(t, 20 * MS):
            drops.append(t)
        t = round(t + 0.001, 6)
    assert drops[0] == pytest.approx(0.1, abs=1e-9)  # above target since t = 0, for a whole interval
    gaps = [b - a for a, b in itertools.pairwise(drops)]
    # Control law: the k-th gap is interval / sqrt(k) (to the 1 ms dequeue granularity).
    for k, gap in enumerate(gaps[:6], start=1):
        assert gap == pytest.approx(0.1 / math.sqrt(k), abs=0.0011)
    assert codel.dropping
    assert not codel.on_dequeue(1.0, 1 * MS)  # below target: leave the dropping state at once
    assert not codel.dropping


def test_rfc8289_reentry_resumes_the_drop_rate() -> None:
    codel = CodelDetector()
    t = 0.0
    while t < 1.0:
        codel.on_dequeue(t, 20 * MS)
        t = round(t + 0.001, 6)
    count = codel.count
    assert count > 2
    codel.on_dequeue(t, 1 * MS)
    t += 0.01
    while not codel.dropping:
        codel.on_dequeue(t, 20 * MS)
        t += 0.001
    assert codel.count == count - 1  # RFC 8289 §5.5: resume from count − lastcount, not from 1


def test_delay_window_reports_the_closed_minimum_and_forgets_when_idle() -> None:
    window = DelayWindow()
    for i in range(25):
        window.add(i * 0.01, 0.008 + (i % 3) * 0.001)
    assert window.closed_min == pytest.approx(0.008)
    assert window.overloaded(0.25)
    assert window.current(0.25) == pytest.approx(0.008)
    assert window.current(0.6) == 0.0  # nothing started for two intervals: no queue
