"""``AdmissionController.enter_calm`` / ``enter`` / ``leave``: the middlewares' permit-free paths
for the common request (issue #11, the per-request cost). They must decide exactly as ``acquire``
+ ``start`` + ``success`` do, change nothing when they decline, and read no clock of their own;
the calm path hands the limit and the delay window what they need once per probe."""

from __future__ import annotations

import dataclasses
import math
import random

from healthgauge.overload import (
    AdmissionController,
    ControllerStatistics,
    Criticality,
    FixedLimit,
    FollyCodel,
    Gradient2Limit,
    LoopDelayLimit,
    Outcome,
    Permit,
    Rejection,
    RejectReason,
    WaitQueue,
    WindowedLimit,
)
from healthgauge.testing import FakeClock


class CountingClock(FakeClock):
    """A fake clock that counts its readings."""

    __slots__ = ("reads",)

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return super().__call__()


def trio(clock: FakeClock, n: int = 3) -> tuple[AdmissionController, ...]:
    def make() -> AdmissionController:
        limit = LoopDelayLimit(initial=8, max_limit=64)
        return AdmissionController(limit, clock=clock, rng=random.Random(7))

    return tuple(make() for _ in range(n))


def enter_inline(ctl: AdmissionController) -> bool:
    """A calm admission written inline on the controller's tally, as the middlewares write it
    (``CalmTally``'s contract, no call)."""
    t = ctl.tally
    n = t.inflight
    if n >= t.below:
        return False
    t.inflight = n + 1
    if n >= t.peak:
        t.peak = n + 1
    t.admitted += 1
    return True


Held = Permit | str  # "calm", "inline" or "entered": admitted without a permit


def admit(ctl: AdmissionController, lag: float, *, calm: bool | str) -> Held | bool:
    """One arrival the way a middleware admits it: ``enter_calm`` (if ``calm``), else ``enter``,
    else ``acquire`` and start (``calm="inline"``: the tally written inline instead of
    ``enter_calm``). A held request or False (refused)."""
    now = ctl.clock()
    if calm == "inline" and enter_inline(ctl):
        return "inline"
    if calm is True and ctl.enter_calm():
        return "calm"
    entered = ctl.enter(now, lag)
    if entered is True:
        return "entered"
    if entered is False:
        decision = ctl.acquire(now=now)
        if isinstance(decision, Permit) and decision.start(lag, now=now) is None:
            return decision
    return False


def complete(ctl: AdmissionController, one: Held, gone: bool) -> None:
    """Complete a held request as a middleware does; ``gone``: the client went away (counted for
    the limit by ``leave_calm`` itself, by ``note_gone`` otherwise)."""
    if one == "calm":
        ctl.leave_calm(gone)
        return
    if one == "inline":
        ctl.tally.inflight -= 1
        if gone:
            ctl.gone_calm()
        return
    if gone:
        ctl.note_gone()
    if one == "entered":
        ctl.leave("ignored" if gone else "success")
    elif isinstance(one, Permit):
        one.complete(Outcome.IGNORED if gone else Outcome.SUCCESS)


def without_window(st: ControllerStatistics) -> ControllerStatistics:
    """The statistics but the delay window's figures, which calm admissions feed once per probe."""
    return dataclasses.replace(st, win_min=0.0, load=0)


def test_enter_calm_and_enter_decide_as_acquire_and_start_would() -> None:
    """Four controllers, the same 4,000 events: one through enter_calm/enter/leave (acquire
    where both decline), one through enter/leave, one through acquire/start/success, one with
    its tally written inline as the middlewares do (``CalmTally``). Through loop
    probes that grow the limit, enter overload (sloughing at start) and leave it, the enter path's
    statistics agree exactly after every step, the calm path's all but the delay window's figures
    (win_min and the load figure: fed with the probe's lag, see the controller's docstring), the
    inline one exactly the calm one's."""
    clock = FakeClock()
    calm, fast, slow, inline = trio(clock, 4)
    rng = random.Random(3)
    held: list[list[Held]] = [[], [], [], []]
    calm_admissions = 0
    for step in range(4_000):
        clock.advance(0.001)
        lag = 0.01 + 0.5 * (step - 1_000) / 1_000 if 1_000 <= step < 2_200 else rng.random() * 0.002  # a rising backlog
        if step % 10 == 0:
            for ctl in (calm, fast, slow, inline):
                ctl.observe_loop(lag, busy=0.009, steps=5)
        if rng.random() < 0.55:
            calm_admissions += calm.calm
            for ctl, holding, way in ((calm, held[0], True), (fast, held[1], False), (inline, held[3], "inline")):
                one = admit(ctl, lag, calm=way)
                if one is not False:
                    holding.append(one)
            decision = slow.acquire()
            if isinstance(decision, Permit) and decision.start(lag) is None:
                held[2].append(decision)
        elif held[2]:
            i = rng.randrange(len(held[2]))
            gone = rng.random() < 0.1
            for ctl, holding in zip((calm, fast, slow, inline), held, strict=True):
                complete(ctl, holding.pop(i), gone)
        assert fast.statistics() == slow.statistics(), step
        assert without_window(calm.statistics()) == without_window(slow.statistics()), step
        assert inline.statistics() == calm.statistics(), step  # the tally's contract is enter_calm's
    assert slow.statistics().rejected["expired"] > 0  # the run did slough at start
    assert slow.limit.statistics().decreases > 0
    assert slow.limit.statistics().increases > 0
    assert 500 < calm_admissions < calm.statistics().admitted  # both ways in were taken


def test_calm_admissions_reach_the_limit_and_the_window_at_the_probe() -> None:
    """The limit learns a calm interval's peak in-flight count (it cuts ``L`` to it on overload
    and keeps it as its floor) and the delay window the probe's lag, with one call each."""
    clock = FakeClock()
    ctl = AdmissionController(LoopDelayLimit(), clock=clock)
    ctl.observe_loop(0.0)  # the first probe opens the limit's first interval
    assert ctl.statistics().win_min == 0.0
    for _ in range(30):
        assert ctl.enter_calm() > 0
    for _ in range(30):
        ctl.leave()
    clock.advance(0.01)
    ctl.observe_loop(0.004)
    assert ctl.statistics().win_min == 0.004
    clock.advance(0.05)
    ctl.observe_loop(0.5)  # no calm admission since the last probe: no start to give a delay
    clock.advance(0.06)
    assert ctl.enter_calm() > 0
    ctl.observe_loop(0.006)  # closes both intervals: the window's (its only start's delay), the limit's
    assert ctl.statistics().win_min == 0.006
    assert ctl.limit.statistics().details["floor"] == 30


def test_the_calm_bound_follows_the_limit_and_the_state() -> None:
    clock = FakeClock()
    fixed = AdmissionController(FixedLimit(3), clock=clock)
    assert [fixed.enter_calm() for _ in range(4)] == [1, 2, 3, 0]  # the fourth is at the limit
    assert AdmissionController(FixedLimit(math.inf), clock=clock).calm
    ctl = AdmissionController(LoopDelayLimit(initial=4, min_limit=1, max_limit=4), clock=clock)
    assert [ctl.enter_calm() for _ in range(4)] == [1, 2, 3, 0]  # n + 2 > L saturates: enter decides
    for _ in range(3):
        ctl.leave()
    ctl.set_draining()
    assert not ctl.calm
    ctl.set_draining(False)
    assert ctl.calm
    costly = ctl.acquire(cost=0.5)
    assert isinstance(costly, Permit)
    assert not ctl.calm
    costly.success()
    assert ctl.calm
    tenths = [ctl.acquire(cost=0.1) for _ in range(3)]
    assert ctl.enter_calm() == 0
    for one in reversed(tenths):
        assert isinstance(one, Permit)
        one.success()
    assert ctl.calm  # no float residue of the costs keeps it from being calm again
    assert ctl.inflight_cost == 0.0
    ctl.shed_sheddable = True
    assert ctl.calm_entry(Criticality.SHEDDABLE)() > 0  # the limit judges overload: not overloaded
    unjudged = AdmissionController(FixedLimit(8), clock=clock)
    assert unjudged.calm_entry(Criticality.SHEDDABLE)() == 0  # the delay window would judge it
    unjudged.shed_sheddable = False
    assert unjudged.calm_entry(Criticality.SHEDDABLE)() > 0
    for kind in (
        AdmissionController(FixedLimit(8), queue=WaitQueue(), clock=clock),
        AdmissionController(FixedLimit(8), detector=FollyCodel(clock=clock), clock=clock),
        AdmissionController(WindowedLimit(Gradient2Limit()), clock=clock),
    ):
        assert kind.enter_calm() == 0
        assert kind.statistics().admitted == 0


def test_enter_declines_without_any_effect_where_acquire_must_decide() -> None:
    clock = FakeClock()
    cases = {
        "at the limit": AdmissionController(FixedLimit(1), clock=clock),
        "draining": AdmissionController(FixedLimit(4), clock=clock),
        "a limit that takes samples": AdmissionController(WindowedLimit(Gradient2Limit()), clock=clock),
        "waiters queued": AdmissionController(FixedLimit(1), queue=WaitQueue(), clock=clock),
        "sheddable": AdmissionController(FixedLimit(4), clock=clock),
    }
    assert cases["at the limit"].enter(clock()) is True
    cases["draining"].set_draining()
    queued = cases["waiters queued"]
    assert isinstance(queued.acquire(), Permit)
    queued.acquire()  # waits
    for name, ctl in cases.items():
        before = ctl.statistics()
        level = Criticality.SHEDDABLE if name == "sheddable" else Criticality.CRITICAL
        assert ctl.enter(clock(), 0.0, level) is False, name
        assert ctl.statistics() == before, name


def test_enter_and_leave_read_no_clock_and_count_like_permits() -> None:
    clock = CountingClock()
    ctl = AdmissionController(LoopDelayLimit(), clock=clock)
    reads = clock.reads
    for _ in range(5):
        assert ctl.enter(12.0, 0.001) is True
    assert ctl.inflight == 5
    ctl.leave()
    ctl.leave("ignored")
    ctl.leave("dropped")
    assert clock.reads == reads  # time passed in; no sample, so no reading at completion
    st = ctl.statistics()
    assert (st.admitted, st.inflight, st.inflight_cost) == (5, 2, 2.0)
    assert st.completed == {"success": 1, "dropped": 1, "ignored": 1}


def test_a_permit_of_a_limit_without_samples_completes_without_reading_the_clock() -> None:
    clock = CountingClock()
    ctl = AdmissionController(FixedLimit(4), clock=clock)
    decision = ctl.acquire(now=1.0)
    assert isinstance(decision, Permit)
    assert decision.start(now=1.0) is None
    reads = clock.reads
    decision.success()
    assert clock.reads == reads


def test_leave_without_a_request_in_flight_is_an_error() -> None:
    ctl = AdmissionController(FixedLimit(4), clock=FakeClock())
    try:
        ctl.leave()
    except RuntimeError:
        return
    raise AssertionError("leave() with nothing in flight must raise")


def test_a_request_sloughed_at_its_start_is_released_and_refused() -> None:
    clock = FakeClock()
    ctl = AdmissionController(FixedLimit(100), detector=FollyCodel(clock=clock), clock=clock)
    clock.set(0.11)
    assert ctl.enter(clock(), 0.1) is True  # spec §2.2's vectors: first of its interval, served
    ctl.leave()
    clock.set(0.2)
    assert ctl.enter(clock(), 0.05) is True
    shed = ctl.enter(clock(), 0.05)
    assert isinstance(shed, Rejection)
    assert shed.reason is RejectReason.EXPIRED
    assert ctl.inflight == 1
    assert ctl.statistics().completed["ignored"] == 1
    monitor = AdmissionController(FixedLimit(100), detector=FollyCodel(clock=clock), clock=clock, monitor_only=True)
    clock.set(0.31)
    assert monitor.enter(clock(), 0.1) is True
    clock.set(0.42)
    assert monitor.enter(clock(), 0.05) is True
    assert monitor.enter(clock(), 0.05) is True  # monitor-only: counted, admitted
    assert monitor.statistics().would_reject["expired"] == 1
