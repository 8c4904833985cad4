"""LoopDelayLimit (issue #11): the standing loop delay our admitted handlers cause, with time passed in."""

from __future__ import annotations

import pytest

from healthgauge.overload import AdmissionController, ConfigError, LoopDelayLimit, Permit, Rejection
from healthgauge.testing import FakeClock

MS = 0.001
PROBE = 0.01


def feed(limit: LoopDelayLimit, start: float, seconds: float, lag: float, share: float, step: float = 0.0) -> float:
    """Probe samples every 10 ms: ``lag`` late, ``share`` of the time in admitted handlers, in
    steps of ``step`` seconds (0: one step per probe)."""
    t = start
    for _ in range(round(seconds / PROBE)):
        t += PROBE
        busy = share * PROBE
        steps = max(1, round(busy / step)) if step else 1
        limit.on_loop(t, lag, busy, steps)
    return t


def ramp(limit: LoopDelayLimit, start: float, seconds: float, lag: float, share: float, step: float = 0.0) -> float:
    """Like ``feed``, but the lag grows from ``lag`` by one second per second (arrivals at twice
    what the loop completes: an open loop at 2× capacity)."""
    t = start
    for _ in range(round(seconds / PROBE)):
        t += PROBE
        busy = share * PROBE
        steps = max(1, round(busy / step)) if step else 1
        limit.on_loop(t, lag + (t - start), busy, steps)
    return t


def test_lag_that_admitted_handlers_do_not_cause_never_sheds() -> None:
    """400 keep-alive connections: the loop is 60 ms late, but refusing our few µs of Python per
    request would not relieve it (the 0.x default cut its limit to 2 and refused 99 %)."""
    limit = LoopDelayLimit()
    feed(limit, 0.0, 5.0, 60 * MS, share=0.1)
    assert limit.late
    assert not limit.overloaded
    assert not limit.on_start(5.0, 200 * MS)
    assert limit.limit == 1000


def test_a_standing_queue_of_our_own_work_sheds_after_enter_time_and_stops_after_exit_time() -> None:
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.9, step=3 * MS)  # calm: learns the 3 ms step
    assert limit.effective_target == pytest.approx(6 * MS, rel=0.2)
    t = ramp(limit, t, 0.3, 40 * MS, share=0.9, step=3 * MS)
    assert not limit.overloaded  # 300 ms < enter_time (500 ms): not yet a standing queue
    t = ramp(limit, t, 0.3, 340 * MS, share=0.9, step=3 * MS)
    assert limit.overloaded
    assert limit.on_start(t, 3 * limit.effective_target + MS)  # sloughed
    assert not limit.on_start(t, limit.effective_target)  # a short wait still runs
    t = feed(limit, t, 0.2, 0.5 * MS, share=0.5, step=3 * MS)
    assert limit.overloaded  # within exit_time (300 ms) of the last late sample
    feed(limit, t, 0.2, 0.5 * MS, share=0.5, step=3 * MS)
    assert not limit.overloaded


def test_one_late_sample_is_not_a_queue() -> None:
    """A long step or a preemption makes one sample very late; the loop then catches up."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.0, share=0.9)
    limit.on_loop(t + 0.6, 600 * MS, 0.6, 1)
    t = feed(limit, t + 0.6, 0.05, 0.0, share=0.9)
    assert not limit.overloaded


def test_the_host_noise_raises_the_target_up_to_max_target() -> None:
    """On a shared host the loop's usual worst lag is tens of ms; that is not a queue."""
    limit = LoopDelayLimit()
    t = 0.0
    for _ in range(300):  # intervals whose minimum is 0 but whose worst sample is 15 ms
        t = feed(limit, t, 0.09, 0.0, share=0.6)
        t = feed(limit, t, 0.01, 15 * MS, share=0.6)
    assert limit.noise == pytest.approx(15 * MS, rel=0.1)
    assert limit.effective_target == pytest.approx(45 * MS, rel=0.1)
    assert not limit.overloaded
    for _ in range(300):
        t = feed(limit, t, 0.09, 0.0, share=0.6)
        t = feed(limit, t, 0.01, 80 * MS, share=0.6)
    assert limit.effective_target == pytest.approx(50 * MS)  # max_target


def test_starts_unlimited_cuts_to_what_runs_and_keeps_a_floor_of_what_worked() -> None:
    limit = LoopDelayLimit()
    assert limit.limit == 1000
    t = 0.0
    for _ in range(20):  # calm, 40 in flight
        for n in range(40):
            limit.on_admission(t, n, at_limit=False)
        t = feed(limit, t, 0.1, 0.5 * MS, share=0.7)
    assert limit.floor == 40
    for k in range(12):  # overloaded with 120 in flight: cut towards 0.9 × 120, never below ~40
        for n in range(120):
            limit.on_admission(t, n, at_limit=False)
        t = ramp(limit, t, 0.1, 30 * MS + k * 0.1, share=0.9)
    assert limit.overloaded
    assert 30 <= limit.limit <= 108
    assert limit.limit >= limit.floor - 1e-9


def test_grows_only_while_saturated_and_calm() -> None:
    limit = LoopDelayLimit(initial=10)
    t = feed(limit, 0.0, 1.0, 0.0, share=0.3)
    assert limit.limit == 10  # nothing reached the limit
    for _ in range(10):
        limit.on_admission(t, 9, at_limit=True)
        t = feed(limit, t, 0.1, 0.0, share=0.3)
    assert limit.limit > 20


def test_without_a_probe_it_never_sheds() -> None:
    limit = LoopDelayLimit()
    for i in range(1000):
        limit.on_admission(i * MS, 500, at_limit=False)
        assert not limit.on_start(i * MS, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target": 0}, "target must be > 0"),
        ({"min_busy_share": 1.5}, "min_busy_share"),
        ({"slough_factor": 0.5}, "slough_factor"),
        ({"noise_factor": -1}, "noise_factor"),
    ],
)
def test_rejects_bad_configuration(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LoopDelayLimit(**kwargs)


def test_the_controller_default_sheds_only_through_the_loop_probe() -> None:
    clock = FakeClock()
    ctl = AdmissionController(clock=clock)
    assert isinstance(ctl.limit, LoopDelayLimit)
    for i in range(100):  # a growing lag, our handlers 90 % of the loop
        clock.advance(PROBE)
        ctl.observe_loop(40 * MS + i * PROBE, 0.9 * PROBE, 1)
    assert ctl.overloaded()
    permit = ctl.acquire()
    assert isinstance(permit, Permit)
    shed = permit.start(extra_delay=500 * MS)
    assert isinstance(shed, Rejection)
    assert shed.reason.value == "expired"
    assert ctl.inflight == 0


def test_cost_counts_against_the_limit() -> None:
    """Healthgauge-Cost (owners.md contract): a request costing 2.5 takes 2.5 of the limit; one
    costing more than the limit still runs when nothing else does."""
    from healthgauge.overload import FixedLimit

    clock = FakeClock()
    ctl = AdmissionController(FixedLimit(4), clock=clock)
    a = ctl.acquire(cost=2.5)
    assert isinstance(a, Permit)
    assert isinstance(ctl.acquire(cost=1), Permit)
    assert ctl.inflight_cost == pytest.approx(3.5)
    assert isinstance(ctl.acquire(cost=1), Rejection)  # 3.5 + 1 > 4
    a.success()
    assert isinstance(ctl.acquire(cost=1), Permit)
    assert ctl.statistics().inflight_cost == pytest.approx(2)
    lone = AdmissionController(FixedLimit(2), clock=clock).acquire(cost=10)
    assert isinstance(lone, Permit)


def test_shedding_that_does_not_relieve_the_loop_stops_and_backs_off() -> None:
    """The delay was not ours after all (host contention, connections): the loop never catches up
    within verify_time, so shedding stops for suppress_time, doubling while it keeps happening."""
    limit = LoopDelayLimit()
    t = ramp(limit, 0.0, 0.6, 100 * MS, share=0.9)
    assert limit.overloaded
    t = ramp(limit, t, 1.0, 700 * MS, share=0.9)
    assert not limit.overloaded
    assert limit.statistics().details["ineffective"] == 1
    t = ramp(limit, t, 4.5, 1.7, share=0.9)
    assert not limit.overloaded  # suppressed for 5 s
    t = ramp(limit, t, 1.0, 6.2, share=0.9)
    assert limit.overloaded  # looks again
    t = ramp(limit, t, 1.0, 7.2, share=0.9)
    assert limit.statistics().details["ineffective"] == 2
    ramp(limit, t, 9.0, 8.2, share=0.9)
    assert not limit.overloaded  # now 10 s


def test_shedding_that_works_goes_on_while_the_backlog_grows_between_pauses() -> None:
    """An open loop above capacity: shedding holds the loop near the threshold, so the backlog
    stops rising; after hold_time shedding pauses, the backlog grows again and is shed again."""
    limit = LoopDelayLimit()
    t = ramp(limit, 0.0, 0.6, 40 * MS, share=0.9)
    assert limit.overloaded
    for _ in range(20):  # 0.2 s: the loop hovers around the threshold, the excess is sloughed
        t = feed(limit, t, 0.01, 10 * MS, share=0.9)
        assert limit.on_start(t, 500 * MS)
    assert limit.overloaded
    assert limit.statistics().details["ineffective"] == 0
    t = feed(limit, t, 0.1, 10 * MS, share=0.9)
    assert not limit.overloaded  # hold_time (0.25 s) without a rising window: pause
    t = ramp(limit, t, 0.8, 10 * MS, share=0.9)
    assert limit.overloaded  # it grew again, past where it entered
    t = feed(limit, t, 0.31, 1 * MS, share=0.3)  # the load fell: nothing waits, nothing is shed
    assert not limit.overloaded


def test_a_long_but_stable_backlog_never_sheds() -> None:
    """A closed loop (50 clients, a 3-ms CPU handler): the loop is 150 ms late for as long as it
    runs, our handlers are all its work, yet the backlog is bounded by the clients and does not
    grow: a refusal only makes the client ask again sooner. The ramp of connections opening
    (the first 150 ms) is not a growing backlog either."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.2, step=3 * MS)
    for i in range(15):  # 50 connections open: 0 → 150 ms in 150 ms
        t += PROBE
        limit.on_loop(t, (i + 1) * 10 * MS, 0.9 * PROBE, 3)
    for i in range(1000):  # 10 s at 150 ms ± 40 ms (noise, preemption spikes), sampled every lag
        t += 0.15
        lag = 150 * MS + (40 * MS if i % 7 == 0 else -20 * MS if i % 3 == 0 else 0.0)
        limit.on_loop(t, lag, 0.9 * 0.15, 50)
        assert limit.late or i < 4
        assert not limit.overloaded, f"shed a stable backlog at {t:.2f} s"
        assert not limit.on_start(t, lag)
    assert limit.limit == 1000


def test_a_growing_backlog_sheds_and_a_backlog_that_stops_growing_is_let_be() -> None:
    """An open loop at 2× capacity: the lag rises by a second per second, so the limit sheds
    within enter_time. When the backlog then stays long without growing (shedding was not what
    held it), shedding stops after hold_time."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.9, step=3 * MS)
    t = ramp(limit, t, 0.6, 20 * MS, share=0.9, step=3 * MS)
    assert limit.overloaded
    assert limit.statistics().details["rising"] == 1
    assert limit.on_start(t, 600 * MS)
    for _ in range(int(2.0 / 0.05)):  # 2 s: long (150 ms) but flat, yet late and our work
        t += 0.05
        limit.on_loop(t, 150 * MS, 0.9 * 0.05, 10)
        limit.on_start(t, 150 * MS)
    assert not limit.overloaded
    assert not limit.on_start(t, 150 * MS)
    assert limit.statistics().details["rising"] == 0
    t = feed(limit, t, 0.3, 1 * MS, share=0.9)  # a closed loop's clients pause and come back:
    for i in range(1, 40):  # its lag climbs back to the plateau over 400 ms and stays there
        t += PROBE
        limit.on_loop(t, min(600 * MS, i * 15 * MS), 0.9 * PROBE, 3)
    assert not limit.overloaded
    t = ramp(limit, t, 0.6, 650 * MS, share=0.9)  # growing past it is growth again
    assert limit.overloaded


def test_min_rise_zero_restores_the_standing_queue_rule() -> None:
    limit = LoopDelayLimit(min_rise=0)
    feed(limit, 0.0, 0.6, 40 * MS, share=0.9)
    assert limit.overloaded


def shed_until_released(limit: LoopDelayLimit, t: float, most: float = 3.0) -> float:
    """Shedding holds the loop in a sawtooth under the slough threshold: the backlog is long
    (our handlers are all the loop's work) but no longer grows. Until the limit lets go."""
    for i in range(round(most / PROBE)):
        t += PROBE
        limit.on_loop(t, (i % 5) * 8 * MS + 2 * MS, 0.9 * PROBE, 3)
        limit.on_start(t, 500 * MS)
        if not limit.overloaded:
            break
    return t


def sparse_growth(limit: LoopDelayLimit, t: float, lag: float, ratio: float, samples: int) -> float:
    """A loop deep in a backlog wakes the probe once per iteration, each ``ratio`` × longer."""
    for _ in range(samples):
        lag *= ratio
        t += lag
        limit.on_loop(t, lag, 0.9 * lag, max(1, round(lag / (3 * MS))))
    return t


def test_a_standing_backlog_that_shedding_holds_is_shed_again_when_it_regrows() -> None:
    """An open loop above capacity: when shedding has held the backlog for hold_time, the limit
    lets go to see whether it grows (the release probe). It does, past the lag it entered at:
    shedding resumes without another enter_time of lateness, and probes half as often."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.9, step=3 * MS)
    t = ramp(limit, t, 0.6, 20 * MS, share=0.9, step=3 * MS)
    assert limit.overloaded
    entered = t
    t = shed_until_released(limit, t)
    assert limit.statistics().details["probing"] == 1
    assert t - entered == pytest.approx(limit.hold_time, abs=0.05)  # hold_time without growth
    released = t
    t = ramp(limit, t, 0.1, 30 * MS, share=0.9, step=3 * MS)
    assert not limit.overloaded  # regrowing, not yet past 1.5 × the ~520 ms it entered at
    for _ in range(100):  # it keeps growing a second per second
        t = ramp(limit, t, PROBE, 30 * MS + (t - released), share=0.9, step=3 * MS)
        if limit.overloaded:
            break
    assert limit.overloaded, "an open loop's backlog must be shed again once it regrows"
    assert t - released < 1.0  # past 1.5 × the ~520 ms it entered at, growing 1 s per s
    assert limit.statistics().details["hold"] == 2 * limit.hold_time
    entered = t
    t = shed_until_released(limit, t)
    assert t - entered == pytest.approx(2 * limit.hold_time, abs=0.05)  # probes half as often


def test_a_probe_that_finds_a_plateau_stops_shedding_and_remembers_it() -> None:
    """A closed loop that was taken for growth (clients connecting): once let go, its lag climbs
    back to the plateau its clients set and stays there. Shedding stops for good, and refilling
    to that plateau later is not growth."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.9, step=3 * MS)
    t = ramp(limit, t, 0.6, 20 * MS, share=0.9, step=3 * MS)
    assert limit.overloaded
    t = shed_until_released(limit, t)
    assert limit.statistics().details["probing"] == 1
    for i in range(60):  # refilled to 150 ms in one iteration and flat (± preemption) after
        t += 0.15
        lag = 150 * MS + (30 * MS if i % 4 == 1 else 0.0)
        limit.on_loop(t, lag, 0.9 * 0.15, 50)
        assert not limit.overloaded, f"shed a closed loop's plateau again at {t:.2f} s"
    assert limit.statistics().details["probing"] == 0
    t = feed(limit, t, 0.4, 1 * MS, share=0.9)  # the clients pause, then refill over 400 ms
    for i in range(1, 60):
        t += PROBE
        limit.on_loop(t, min(150 * MS, i * 4 * MS), 0.9 * PROBE, 3)
        assert not limit.overloaded
    for n in range(60):  # and the limit cut while shedding follows its clients again
        limit.on_admission(t, min(n, int(limit.limit)), at_limit=n >= limit.limit)
    assert limit.limit >= 50


def test_growth_seen_once_per_long_iteration_is_growth() -> None:
    """With a backlog of seconds the probe wakes once per iteration: few samples, each later
    than the last (cut by count, not by time). The loop's lag doubling every iteration sheds."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.9, step=3 * MS)
    t = feed(limit, t, 0.6, 30 * MS, share=0.9, step=3 * MS)  # late and flat: not growth
    assert limit.late
    assert not limit.overloaded
    sparse_growth(limit, t, 30 * MS, 1.6, 5)
    assert limit.overloaded


def test_the_host_noise_estimate_does_not_learn_while_shedding() -> None:
    """Shedding makes the loop's lag a sawtooth with samples under the target: those intervals
    are not the host's calm noise, or the target would creep up to max_target under load."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.9, step=1 * MS)
    t = ramp(limit, t, 0.6, 20 * MS, share=0.9, step=1 * MS)
    assert limit.overloaded
    before = limit.noise
    for i in range(60):  # shedding, then the release probe: a sawtooth, samples under the target
        t += PROBE
        limit.on_loop(t, (i % 5) * 8 * MS, 0.9 * PROBE, 3)
        details = limit.statistics().details
        assert details["overloaded"] or details["probing"]
    assert limit.noise == pytest.approx(before, rel=0.05)


def test_probe_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="max_hold"):
        LoopDelayLimit(hold_time=2.0, max_hold=1.0)
    with pytest.raises(ConfigError, match="probe_growth"):
        LoopDelayLimit(probe_growth=-0.1)


def test_a_probe_far_above_capacity_sees_few_samples_and_still_sheds_again() -> None:
    """At 4× capacity the loop runs one long iteration per probe sample once shedding lets go:
    too few samples to cut in thirds is no plateau; the lag passing the entry level while each
    sample is later than the last is growth."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.9, step=3 * MS)
    t = ramp(limit, t, 0.6, 20 * MS, share=0.9, step=3 * MS)
    assert limit.overloaded
    t = shed_until_released(limit, t)
    for lag in (0.35, 0.45, 0.6, 0.8):  # ~0.52 s entered; one sample per growing iteration
        t += lag
        limit.on_loop(t, lag, 0.9 * lag, round(lag / (3 * MS)))
    assert limit.overloaded


def iterations(limit: LoopDelayLimit, t: float, lags: list[float], share: float = 0.9) -> float:
    """A loop running one long iteration per probe sample: each sample ``lag`` late, arriving
    ``lag`` after the previous one (the probe waits out the iteration)."""
    for lag in lags:
        t += max(lag, PROBE)
        limit.on_loop(t, lag, share * max(lag, PROBE), max(1, round(lag / (3 * MS))))
    return t


def test_iterations_that_lengthen_three_times_in_a_row_enter_at_once() -> None:
    """h11 at 2×, as the probe saw it: from a calm loop, one sample per iteration, 22, 43, 96 ms.
    The old thirds-of-500-ms test found a third without a sample and entered 5 s later."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    t = iterations(limit, t, [22 * MS, 43 * MS])
    assert not limit.overloaded  # a burst, or clients connecting over two iterations
    iterations(limit, t, [96 * MS])
    assert limit.overloaded
    assert not limit.late  # no enter_time of lateness was needed


def test_a_closed_loop_that_steps_up_to_its_batch_does_not_enter() -> None:
    """50 clients of a 3-ms handler: the loop steps up to a 150-ms batch and stays there; a few
    connections joining late make one more step, never three lengthenings in a row."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    t = iterations(limit, t, [5 * MS, 120 * MS, 150 * MS, 150 * MS, 149 * MS, 151 * MS] * 5)
    assert not limit.overloaded


def test_dense_samples_that_rise_are_left_to_the_thirds() -> None:
    """Samples 10 ms apart while the lag is 40 ms: several samples per iteration (the loop's
    iterations are short), so they are judged over enter_time as before, not per sample."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.9, step=3 * MS)
    ramp(limit, t, 0.2, 40 * MS, share=0.9, step=3 * MS)
    assert not limit.overloaded


def test_a_saturated_loop_does_not_teach_the_host_noise() -> None:
    """The start of a backlog (the loop saturated by our handlers, its worst sample 20 ms) is not
    the host's noise: learning it raised the target to 36 ms before the first entry."""
    limit = LoopDelayLimit()
    t = 0.0
    for _ in range(100):
        t = feed(limit, t, 0.09, 0.0, share=0.95)
        t = feed(limit, t, 0.01, 20 * MS, share=0.95)
    assert limit.noise == 0.0
    for _ in range(100):  # the same lags with room on the loop: the host's
        t = feed(limit, t, 0.09, 0.0, share=0.5)
        t = feed(limit, t, 0.01, 20 * MS, share=0.5)
    assert limit.noise > 10 * MS


def test_a_release_probe_far_above_capacity_sheds_again_after_two_longer_iterations() -> None:
    """aiohttp at 4×, once shedding let go: 35, 143, 443 ms, each iteration ~3-4× the last.
    Two lengthenings in a row past the slough threshold are growth: waiting for the lag to pass
    1.5 × the entry lag let each probe run a second of backlog."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    t = iterations(limit, t, [22 * MS, 43 * MS, 96 * MS, 140 * MS, 292 * MS])
    assert limit.overloaded
    t = shed_until_released(limit, t)
    assert limit.statistics().details["probing"] == 1
    t = iterations(limit, t, [143 * MS])
    assert not limit.overloaded  # one step: a closed loop refills this way
    iterations(limit, t, [443 * MS])
    assert limit.overloaded


def test_a_release_probe_confirms_regrowth_when_a_request_has_waited_that_long() -> None:
    """aiohttp at 4×, let go: after a 143-ms iteration the next sample must pass ~191 ms for the
    two-lengthenings test. A request that starts having waited longer shows the running iteration
    is that long: it is sloughed and shedding resumes then, not when the iteration ends (it ran
    ~0.6 s, every request it admitted answering that late)."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    t = iterations(limit, t, [22 * MS, 43 * MS, 96 * MS, 140 * MS, 292 * MS])
    t = shed_until_released(limit, t)
    t = iterations(limit, t, [143 * MS])
    assert not limit.overloaded
    assert limit.calm_below() == 0  # every start must reach on_start: none admitted by counting
    assert not limit.on_start(t + 0.15, 150 * MS)  # this long is still a closed loop's refill
    assert not limit.overloaded
    assert limit.on_start(t + 0.2, 200 * MS)
    assert limit.overloaded
    assert limit.statistics().details["probing"] == 0
    assert limit.on_start(t + 0.2, limit.slough_timeout + MS)  # the iteration's next ones too


def test_waiting_past_the_confirming_lag_is_the_sample_test_taken_early() -> None:
    """For each first lengthening after a release, a request that waited just past the wait the
    limit names is sloughed, and a sample of that lag would have confirmed regrowth too; just
    under it, neither."""
    for step in (60 * MS, 143 * MS, 400 * MS):
        for above, expected in ((1.02, True), (0.98, False)):
            early, late = LoopDelayLimit(), LoopDelayLimit()
            for limit in (early, late):
                t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
                t = iterations(limit, t, [22 * MS, 43 * MS, 96 * MS, 140 * MS, 292 * MS])
                t = shed_until_released(limit, t)
                t = iterations(limit, t, [step])
            need = early._release.ceiling
            assert step < need < 4 * step
            assert early.on_start(t + need * above, need * above) is expected, (step, above)
            iterations(late, t, [need * above])
            assert late.overloaded is expected, (step, above)


def test_a_release_probe_whose_iterations_keep_getting_later_is_confirmed_mid_iteration() -> None:
    """h11 at 4×, let go: 331 ms, then 399 ms (not 25 % longer), then a 1.5-s iteration before
    the sample that confirmed it came, every request meanwhile timing out. After two samples each
    later than the last, any later one past the entry level confirms: a request that waited
    longer than 399 ms when it starts is that sample, early."""
    for delay, expected in ((420 * MS, True), (395 * MS, False)):
        early, late = LoopDelayLimit(), LoopDelayLimit()
        for limit in (early, late):
            t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
            t = iterations(limit, t, [22 * MS, 43 * MS, 96 * MS])  # enters at 96 ms
            t = shed_until_released(limit, t)
            t = iterations(limit, t, [331 * MS, 399 * MS])
            assert not limit.overloaded
        assert early._release.ceiling == pytest.approx(399 * MS)
        assert early.on_start(t + delay, delay) is expected
        iterations(late, t, [delay])
        assert late.overloaded is expected


def test_a_closed_loop_refilled_after_a_release_is_not_sloughed_at_its_plateau() -> None:
    """The closed loop of 50 clients let go: one 150-ms step, then iterations of 148-153 ms. No
    request of them waits past the confirming lag (~200 ms): nothing is sloughed."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    t = iterations(limit, t, [22 * MS, 43 * MS, 96 * MS])
    t = shed_until_released(limit, t)
    for lag in [150 * MS, 152 * MS, 149 * MS, 153 * MS, 148 * MS] * 4:
        assert not limit.on_start(t + lag, lag + 3 * MS)
        t = iterations(limit, t, [lag])
        assert not limit.overloaded
    assert limit.statistics().details["probing"] == 0


def test_a_release_probe_that_refills_in_one_step_and_stays_is_a_plateau() -> None:
    """A closed loop of 50 clients of a 3-ms handler taken for growth: once let go it refills to
    its 150-ms batch in one iteration and stays there; shedding does not resume."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    t = iterations(limit, t, [22 * MS, 43 * MS, 96 * MS])
    assert limit.overloaded
    t = shed_until_released(limit, t)
    for _ in range(10):
        t = iterations(limit, t, [150 * MS, 152 * MS, 149 * MS])
        assert not limit.overloaded
    assert limit.statistics().details["probing"] == 0


def test_a_growing_accept_queue_enters_while_the_loop_lag_stays_flat() -> None:
    """uvloop at 4×: 87-ms iterations of 28 requests, the lag flat at 77 ms (a closed loop's
    picture) while the kernel's accept queue grows by ~100 connections per iteration."""
    limit = LoopDelayLimit(min_queue_growth=8)
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    queued = 0
    for _ in range(4):
        t += 87 * MS
        queued += 100
        limit.on_loop(t, 77 * MS, 84 * MS, 28, accept_queue=queued)
        assert not limit.overloaded  # not yet grown in each of three intervals
    t += 87 * MS
    limit.on_loop(t, 77 * MS, 84 * MS, 28, accept_queue=queued + 100)
    assert limit.overloaded
    assert limit.on_start(t, 3 * limit.effective_target + MS)


def test_an_accept_queue_that_stands_without_growing_does_not_enter() -> None:
    """A closed loop opens no new connections; a few waiting a moment (a burst of connects, or
    clients a long iteration keeps waiting) neither grow nor stand."""
    limit = LoopDelayLimit(min_queue_growth=8)
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    for i in range(100):
        t += PROBE
        limit.on_loop(t, 2 * MS, 0.9 * PROBE, 3, accept_queue=(20, 24, 21)[i % 3])
    for i in range(100):
        t += PROBE
        limit.on_loop(t, 2 * MS, 0.9 * PROBE, 3, accept_queue=(0, 30)[i % 2])
    assert not limit.overloaded


def test_clients_of_a_closed_loop_connecting_do_not_enter() -> None:
    """uvloop at the step from 10 to 50 closed-loop clients of a 3-ms handler: 40 connections
    wait to be accepted and are taken in over a second, a few more join once; the queue grows in
    one interval, never in three in a row (one interval's growth shed 73 % of them)."""
    limit = LoopDelayLimit(min_queue_growth=8)
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    for queued in (38, 34, 32, 29, 27, 25, 23, 45, 36, 22, 11, 8, 7, 6, 48, 161, 158, 155, 153, 149):
        t += 0.1
        limit.on_loop(t, 150 * MS, 95 * MS, 32, accept_queue=queued)
        assert not limit.overloaded


def test_an_accept_queue_grown_by_others_work_does_not_enter() -> None:
    """Connections wait while the loop is busy with something else (2,000 clients connecting
    to an await handler): refusing our handlers would not take them in sooner."""
    limit = LoopDelayLimit(min_queue_growth=8)
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.1)
    for i in range(50):
        t += PROBE
        limit.on_loop(t, 30 * MS, 0.1 * PROBE, 1, accept_queue=10 * (i + 1))
    assert not limit.overloaded


def test_a_release_probe_sheds_again_as_soon_as_the_accept_queue_grows() -> None:
    """Shedding held an open loop; let go, the accept queue grows again for three intervals: no
    need to wait for the loop's iterations to lengthen (at 4× that cost ~0.6 s each probe)."""
    limit = LoopDelayLimit(min_queue_growth=8)
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    t = iterations(limit, t, [22 * MS, 43 * MS, 96 * MS])
    assert limit.overloaded
    t = shed_until_released(limit, t)
    assert limit.statistics().details["probing"] == 1
    for i in range(32):
        t += PROBE
        limit.on_loop(t, 20 * MS, 0.9 * PROBE, 3, accept_queue=5 * (i + 1))
    assert limit.overloaded


def test_min_queue_growth_is_checked() -> None:
    with pytest.raises(ConfigError, match="min_queue_growth"):
        LoopDelayLimit(min_queue_growth=0)


def test_by_default_the_accept_queue_is_reported_not_judged() -> None:
    """On uvloop a 503 loses to the kernel's free drop (bare answered 95-99 % at 2-4×, shedding
    81-91 %): the default reports the queue and leaves its excess to the kernel."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    for i in range(10):
        t += 87 * MS
        limit.on_loop(t, 77 * MS, 84 * MS, 28, accept_queue=100 * (i + 1))
    assert not limit.overloaded
    assert limit.statistics().details["accept_queue"] == 1000


def test_a_release_waits_for_a_sample_that_shows_the_loop_caught_up() -> None:
    """h11 at 4×, shed: long iterations (the batch admitted under the slough threshold and the
    refusals of what arrived meanwhile) alternate with short ones. Released after a long one, the
    next iteration ran everything that arrived during it (65 requests: 0.75 s); so the release
    waits for a short one, at most one more ``hold``."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    t = iterations(limit, t, [22 * MS, 43 * MS, 96 * MS])
    assert limit.overloaded
    entered = t
    while t - entered < 1.5 * limit.hold_time:  # long iterations only, past hold
        t = iterations(limit, t, [60 * MS])
        assert limit.overloaded, t - entered
    t = iterations(limit, t, [2 * MS])  # the loop caught up
    assert not limit.overloaded
    assert limit.statistics().details["probing"] == 1


def test_a_release_comes_within_two_holds_when_the_loop_never_catches_up() -> None:
    """A shed loop that never shows a short iteration (a closed loop taken for growth whose
    refusals alone take the loop): the release comes after two ``hold``s, and its probe finds the
    plateau as before."""
    limit = LoopDelayLimit()
    t = feed(limit, 0.0, 1.0, 0.5 * MS, share=0.6, step=3 * MS)
    t = iterations(limit, t, [22 * MS, 43 * MS, 96 * MS])
    t = iterations(limit, t, [40 * MS])  # verified: under half the entry lag
    entered = t
    while limit.overloaded and t - entered < 1.0:
        t = iterations(limit, t, [40 * MS])
    assert not limit.overloaded
    assert 2 * limit.hold_time <= t - entered + 0.04 < 2 * limit.hold_time + 0.1
    assert limit.statistics().details["probing"] == 1
