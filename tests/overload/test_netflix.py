"""RTT limits after Netflix concurrency-limits (spec §4.1-4.5), with their reported failure modes."""

from __future__ import annotations

import random

import pytest

from healthgauge.overload import (
    AIMDLimit,
    ConfigError,
    Gradient2Limit,
    GradientLimit,
    Limit,
    VegasLimit,
    WindowedLimit,
)

MS = 0.001


class Recorder(Limit):
    """A delegate that records what the window hands it."""

    def __init__(self) -> None:
        super().__init__(initial=10, min_limit=1, max_limit=100)
        self.samples: list[tuple[float, int, bool]] = []

    def on_sample(self, now: float, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        self.samples.append((rtt, inflight, dropped))
        self.limit += 1


def test_windowed_limit_hands_over_mean_rtt_max_inflight_and_any_drop() -> None:
    rec = Recorder()
    win = WindowedLimit(rec)
    t = 0.0
    win.on_sample(t, t, 0.01, 1, False)  # first sample after next_update = -inf: a 1-sample window, discarded
    assert rec.samples == []
    for i in range(20):
        t += 0.06
        win.on_sample(t, t - 0.01 * (1 + i % 2), 0.01 * (1 + i % 2), i, i == 7)
    assert len(rec.samples) == 1
    rtt, inflight, dropped = rec.samples[0]
    assert rtt == pytest.approx(0.015, rel=0.05)
    assert inflight >= 15
    assert dropped
    assert win.limit == rec.limit


def test_windowed_limit_discards_small_windows_and_tiny_rtts() -> None:
    """#125: at low RPS a window's minimum could be a health check; #176: near-zero RTTs."""
    rec = Recorder()
    win = WindowedLimit(rec)
    t = 0.0
    for _ in range(100):  # 5 samples per second: never 10 in a 1-s window
        t += 0.2
        win.on_sample(t, t, 0.01, 1, False)
    for _ in range(1000):
        t += 0.001
        win.on_sample(t, t, 50e-6, 1, False)  # rejected-request RTTs: below 100 µs
    assert rec.samples == []


def test_windowed_percentile_variant() -> None:
    rec = Recorder()
    win = WindowedLimit(rec, percentile=0.9)
    t = 0.0
    win.on_sample(t, t, 0.01, 1, False)
    for i in range(1, 12):
        t += 0.1
        win.on_sample(t, t, i * MS, 1, False)
    assert rec.samples[0][0] == pytest.approx(10 * MS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"window_size": 5}, "window_size must be ≥ 10"), ({"min_window": 0.05}, "min_window must be ≥ 0.1")],
)
def test_windowed_limit_validates(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        WindowedLimit(AIMDLimit(), **kwargs)  # type: ignore[arg-type]


def test_aimd_backs_off_on_drops_and_timeouts_and_grows_when_half_used() -> None:
    limit = AIMDLimit(initial=20, min_limit=5, max_limit=30)
    limit.on_sample(0, 0, 0.01, 5, False)  # 2 × 5 < 20: application-limited
    assert limit.limit == 20
    limit.on_sample(0, 0, 0.01, 10, False)
    assert limit.limit == 21
    limit.on_sample(0, 0, 0.01, 10, True)
    assert limit.limit == pytest.approx(18.9)
    limit.on_sample(0, 0, 6.0, 10, False)  # slower than the 5-s timeout counts as a drop
    assert limit.limit == pytest.approx(17.01)


def test_aimd_does_not_halve_at_max() -> None:
    """#155 / #174: halving on reaching max made it oscillate; it was removed."""
    limit = AIMDLimit(initial=29, min_limit=5, max_limit=30)
    for _ in range(10):
        limit.on_sample(0, 0, 0.01, 30, False)
    assert limit.limit == 30


def test_vegas_steps_scale_with_log10_of_the_limit() -> None:
    limit = VegasLimit(initial=100, rng=random.Random(1))
    limit.on_sample(0, 0, 10 * MS, 100, False)  # sets rtt_noload
    assert limit.rtt_noload == pytest.approx(10 * MS)
    limit.on_sample(0, 0, 10.1 * MS, 100, False)  # q = ceil(100 × 0.0099) = 1 ≤ lg = 2: + 6·lg
    assert limit.limit == 112
    limit.on_sample(0, 0, 10.5 * MS, 100, False)  # q = ceil(112 × 0.0476) = 6: in [3·lg, 6·lg], hold
    assert limit.limit == 112
    limit.on_sample(0, 0, 20 * MS, 100, False)  # q = 56 > 6·lg = 12: - lg
    assert limit.limit == 110
    limit.on_sample(0, 0, 20 * MS, 10, False)  # application-limited: no change
    assert limit.limit == 110
    limit.on_sample(0, 0, 20 * MS, 10, True)  # a drop always decreases
    assert limit.limit == 108


def run_vegas_under_sustained_load(**kwargs: object) -> VegasLimit:
    """Sustained overload: the RTT climbs from 10 ms to 50 ms and stays there."""
    limit = VegasLimit(initial=20, rng=random.Random(3), **kwargs)  # type: ignore[arg-type]
    limit.on_sample(0, 0, 10 * MS, 20, False)
    for i in range(5000):
        rtt = 10 * MS + min(i, 1000) * 40e-6
        limit.on_sample(0, 0, rtt, int(limit.limit), False)
    return limit


def test_vegas_probe_drifts_the_baseline_upward_under_sustained_load() -> None:
    """#165: the probe sets rtt_noload to whatever the RTT is now; OpenSearch#22312's fix probes
    only at low in-flight counts."""
    drifted = run_vegas_under_sustained_load()
    assert drifted.rtt_noload == pytest.approx(50 * MS)
    guarded = run_vegas_under_sustained_load(probe_only_when_idle=True)
    assert guarded.rtt_noload == pytest.approx(10 * MS)
    assert guarded.limit < drifted.limit


def test_gradient2_long_rtt_is_a_warmup_mean_then_an_ema() -> None:
    limit = Gradient2Limit()
    for i in range(10):
        limit.on_sample(0, 0, (i + 1) * MS, 0, False)
    assert limit.long_rtt == pytest.approx(5.5 * MS)
    limit.on_sample(0, 0, 5.5 * MS + 601 * MS, 0, False)
    assert limit.long_rtt == pytest.approx(5.5 * MS + 2 * MS)


def test_gradient2_decays_long_rtt_fast_when_load_goes_away() -> None:
    limit = Gradient2Limit()
    for _ in range(10):
        limit.on_sample(0, 0, 100 * MS, 0, False)
    limit.on_sample(0, 0, 10 * MS, 0, False)
    assert limit.long_rtt < 100 * MS * 0.96


def test_gradient2_shrinks_under_queueing_and_ignores_drops() -> None:
    limit = Gradient2Limit(initial=100, min_limit=20, max_limit=200)
    for _ in range(10):
        limit.on_sample(0, 0, 10 * MS, 0, False)  # warm the baseline, application-limited
    limit.on_sample(0, 0, 60 * MS, 100, True)
    # g = clamp(1.5 × long / 60 ms, 0.5, 1) = 0.5 (long ≈ 10.2 ms): L = 0.8 L + 0.2 (0.5 L + 4)
    assert limit.limit == pytest.approx(0.8 * 100 + 0.2 * (50 + 4), rel=1e-3)


def gradient2_under_stable_high_rtt(drift_guard: bool) -> Gradient2Limit:
    """#137: a stable, timeout-level RTT under sustained overload."""
    limit = Gradient2Limit(initial=40, min_limit=20, max_limit=200, drift_guard=drift_guard)
    for _ in range(10):
        limit.on_sample(0, 0, 10 * MS, 40, False)
    for _ in range(3000):  # 3000 windows of a 1-s timeout-level RTT, always saturated
        limit.on_sample(0, 0, 1.0, int(limit.limit), False)
    return limit


def test_gradient2_drifts_to_max_under_sustained_overload_unless_guarded() -> None:
    assert gradient2_under_stable_high_rtt(False).limit == 200
    assert gradient2_under_stable_high_rtt(True).limit == 20


def test_gradient_v1_probe_and_queue_size() -> None:
    assert GradientLimit.queue_size(100) == 10
    assert GradientLimit.queue_size(4) == 4
    limit = GradientLimit(initial=50, probe_interval=100, rng=random.Random(1))
    for _ in range(50):
        limit.on_sample(0, 0, 10 * MS, 50, False)
    assert limit.limit > 50  # g = 1: L·g + queue_size, no smoothing on the way up
    grown = limit.limit
    for _ in range(250):  # past the probe (100 + jitter < 200 samples): back to queue_size
        limit.on_sample(0, 0, 10 * MS, 0, False)
    assert limit.limit < grown
    assert limit.limit <= GradientLimit.queue_size(grown)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: AIMDLimit(backoff=0.3), r"backoff must lie in \[0.5, 1.0\)"),
        (lambda: AIMDLimit(initial=10), "initial limit 10 must lie"),
        (lambda: VegasLimit(smoothing=0), "smoothing must be > 0"),
        (lambda: Gradient2Limit(rtt_tolerance=0.5), "rtt_tolerance must be ≥ 1"),
        (lambda: GradientLimit(probe_interval=0), "probe_interval must be ≥ 1"),
    ],
)
def test_invalid_configuration_is_rejected(factory: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        factory()  # type: ignore[operator]


def test_vegas_heals_after_a_burst_of_drops() -> None:
    """camunda/zeebe#3306: after the first backpressure the limit "was never able to heal"."""
    limit = VegasLimit(initial=50, rng=random.Random(4))
    limit.on_sample(0, 0, 10 * MS, 50, False)
    for _ in range(200):
        limit.on_sample(0, 0, 10 * MS, 50, True)
    assert limit.limit == 1
    for _ in range(30):
        limit.on_sample(0, 0, 10 * MS, int(limit.limit), False)
    assert limit.limit > 20


def test_a_gc_pause_in_a_window_barely_moves_windowed_gradient2() -> None:
    """#46 / #58: GC pauses cut the limit; a window's mean, the tolerance and smoothing absorb one."""
    limit = WindowedLimit(Gradient2Limit(initial=50, min_limit=20, max_limit=200))
    t = 0.0
    for _ in range(3000):  # 3 s of 10 ms RTTs at 1,000 rps, 50 in flight
        t += 0.001
        limit.on_sample(t, t - 0.01, 0.01, 50, False)
    before = limit.limit
    for i in range(1000):  # one window with a single 500 ms pause among a thousand samples
        t += 0.001
        rtt = 0.5 if i == 500 else 0.01
        limit.on_sample(t, t - rtt, rtt, 50, False)
    assert limit.limit >= before * 0.95
