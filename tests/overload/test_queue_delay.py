"""QueueDelayLimit (spec §2.4) with a fake clock, including §8's failure modes as regressions."""

from __future__ import annotations

import pytest

from healthgauge.overload import ConfigError, QueueDelayLimit

MS = 0.001


def drive(limit: QueueDelayLimit, start: float, seconds: float, delay: float, *, saturated: bool, rate: int = 200):
    """Starts at ``rate`` per second with constant ``delay``; every arrival saturated or not."""
    t = start
    step = 1.0 / rate
    for _ in range(round(seconds * rate)):
        limit.on_admission(t, int(limit.limit) - 1 if saturated else 0, at_limit=False)
        limit.on_start(t, delay)
        t += step
    return t


def test_decreases_multiplicatively_while_the_minimum_delay_exceeds_target() -> None:
    limit = QueueDelayLimit(initial=100)
    drive(limit, 0.0, 1.0, 8 * MS, saturated=True)
    # ~10 intervals of backoff 0.9 from 100 (the first window only opens).
    assert 30 < limit.limit < 45
    assert limit.overloaded
    assert limit.window_min == pytest.approx(8 * MS)


def test_grows_only_in_saturated_intervals() -> None:
    """Application-limited guard: traffic below the limit never raises it (spec §2.4)."""
    limit = QueueDelayLimit(initial=16)
    drive(limit, 0.0, 2.0, 0.0, saturated=False)
    assert limit.limit == 16
    drive(limit, 2.0, 1.0, 0.0, saturated=True)
    assert limit.limit > 30  # x1.1 per interval while win_min ≤ target/2
    assert limit.statistics().increases >= 9


def test_holds_while_the_delay_is_between_half_target_and_target() -> None:
    """The hold band (HG hysteresis): neither up nor down while target/2 < win_min ≤ target."""
    limit = QueueDelayLimit(initial=50)
    drive(limit, 0.0, 1.05, 4 * MS, saturated=True)
    assert limit.limit == 50
    assert not limit.overloaded


def test_spec_additive_step_without_the_hold_band() -> None:
    limit = QueueDelayLimit(initial=50, hold_band=False)
    drive(limit, 0.0, 1.05, 4 * MS, saturated=True)
    assert limit.limit == pytest.approx(60, abs=1)


def test_reversal_windows_delay_a_change_of_direction() -> None:
    """§8 oscillation safeguard: N consecutive intervals before the limit reverses."""
    after: dict[int, list[float]] = {}
    for windows in (1, 2):
        limit = QueueDelayLimit(initial=50, reversal_windows=windows)
        t = drive(limit, 0.0, 0.6, 0.0, saturated=True)  # growing
        after[windows] = [limit.limit]
        for _ in range(3):  # each step closes the previous interval: zeros first, then 8 ms twice
            t = drive(limit, t, 0.1, 8 * MS, saturated=True)
            after[windows].append(limit.limit)
    one, two = after[1], after[2]
    assert one[1] > one[0]  # the last quiet interval still grows it
    assert one[2] < one[1]  # reverses at the first overloaded interval
    assert two[2] == two[1]  # waits for a second one
    assert two[3] < two[2]


def test_leaves_its_floor_within_ten_windows_once_delay_is_low() -> None:
    """§8, collapse: camunda/zeebe#3306, envoy#38338, oumi#2508 — the limit must heal."""
    limit = QueueDelayLimit(initial=50, min_limit=2)
    t = drive(limit, 0.0, 5.0, 50 * MS, saturated=True)
    assert limit.limit == 2
    drive(limit, t, 1.0, 0.0, saturated=True)
    assert limit.limit > 2 * 1.5


def test_slow_dependency_is_not_overload() -> None:
    """§8: RTTs grow tenfold but nobody waits for a CPU, so the limit does not shrink."""
    limit = QueueDelayLimit(initial=20)
    t = 0.0
    for _ in range(2000):
        limit.on_admission(t, 19, at_limit=True)
        limit.on_start(t, 0.0005)
        limit.on_sample(t, t - 0.21, 0.21, 19, False)  # RTT 210 ms: a slow dependency
        t += 0.001
    assert limit.limit > 100
    assert not limit.overloaded


def test_sheds_only_past_the_slough_timeout_while_overloaded() -> None:
    limit = QueueDelayLimit(initial=20)
    t = drive(limit, 0.0, 0.3, 8 * MS, saturated=True)
    assert limit.overloaded
    assert limit.on_start(t, 9 * MS) is False  # below 2 × target
    assert limit.on_start(t + 0.001, 11 * MS) is True
    fresh = QueueDelayLimit()
    assert fresh.on_start(0.0, 50 * MS) is False  # not overloaded yet: never shed


def test_a_stale_window_makes_no_decision() -> None:
    limit = QueueDelayLimit(initial=20)
    limit.on_start(0.0, 50 * MS)
    limit.on_start(5.0, 50 * MS)  # one slow request, then silence for seconds
    assert limit.limit == 20
    assert not limit.overloaded


def contended_run(guard: bool) -> list[float]:
    """Six saturated, uncongested intervals where completions fall as the in-flight count rises."""
    limit = QueueDelayLimit(initial=20, contention_guard=guard)
    limits = []
    t = 0.0
    for window, done in enumerate([80, 70, 60, 50, 40, 30]):
        limit.on_admission(t, 30, at_limit=True)
        limit.on_start(t, 0.0)  # closes the previous interval
        limits.append(limit.limit)
        for _ in range(done):
            limit.on_sample(t, t, 0.01, 20 + window, False)
        t += 0.1
    return limits


def test_contention_guard_blocks_growth_when_more_concurrency_buys_less() -> None:
    """§2.4 / §4.7 (Cinnamon): throughput fell twice while in-flight rose twice: do not increase."""
    guarded = contended_run(True)
    assert guarded[2] > guarded[1]  # fewer than three intervals of history: no judgement yet
    assert guarded[2] == guarded[3] == guarded[4] == guarded[5]
    unguarded = contended_run(False)
    assert unguarded[5] > unguarded[3]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 0}, "target must be > 0"),
        ({"interval": 0.004}, "interval .* must be > target"),
        ({"backoff": 0.4}, r"backoff must lie in \[0.5, 1.0\)"),
        ({"backoff": 1.0}, "backoff must lie"),
        ({"initial": 1, "min_limit": 2}, "initial limit 1 must lie"),
        ({"min_limit": 0.5}, "min_limit must be ≥ 1"),
        ({"growth": 3.0}, "growth must lie"),
    ],
)
def test_invalid_configuration_is_rejected(kwargs: dict[str, float], message: str) -> None:
    """§8 (vectordotdev/vector#21344): a decrease ratio below 0.5 let a limit reach 0."""
    with pytest.raises(ConfigError, match=message):
        QueueDelayLimit(**kwargs)  # type: ignore[arg-type]


def test_bounds_hold_after_every_update() -> None:
    limit = QueueDelayLimit(initial=990, max_limit=1000)
    drive(limit, 0.0, 3.0, 0.0, saturated=True)
    assert limit.limit == 1000
    stats = limit.statistics()
    assert stats.kind == "queue_delay"
    assert stats.max_limit == 1000
    assert stats.details["overloaded"] == 0.0
