"""``AdmissionController.enter`` / ``leave``: the middlewares' permit-free path for the common
request (issue #11, the per-request cost). It must decide exactly as ``acquire`` + ``start`` +
``success`` do, change nothing when it declines, and read no clock of its own."""

from __future__ import annotations

import random

from healthgauge.overload import (
    AdmissionController,
    Criticality,
    FixedLimit,
    FollyCodel,
    Gradient2Limit,
    LoopDelayLimit,
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


def pair(clock: FakeClock, **kwargs: object) -> tuple[AdmissionController, AdmissionController]:
    def make() -> AdmissionController:
        limit = LoopDelayLimit(initial=8, max_limit=64)
        return AdmissionController(limit, clock=clock, rng=random.Random(7), **kwargs)  # type: ignore[arg-type]

    return make(), make()


def test_enter_decides_as_acquire_and_start_would() -> None:
    """Two controllers, the same events: one through enter/leave (acquire where it declines),
    one through acquire/start/success. Their statistics agree after every step, through loop
    probes that grow, enter overload (sloughing at start) and leave it."""
    clock = FakeClock()
    fast, slow = pair(clock)
    rng = random.Random(3)
    held_fast: list[Permit | None] = []  # None: entered without a permit
    held_slow: list[Permit] = []
    for step in range(4_000):
        clock.advance(0.001)
        lag = 0.01 + 0.5 * (step - 1_000) / 1_000 if 1_000 <= step < 2_200 else rng.random() * 0.002  # a rising backlog
        if step % 10 == 0:
            for ctl in (fast, slow):
                ctl.observe_loop(lag, busy=0.009, steps=5)
        if rng.random() < 0.55:
            entered = fast.enter(clock(), lag)
            if entered is False:
                decision = fast.acquire(now=clock())
                if isinstance(decision, Permit) and decision.start(lag, now=clock()) is None:
                    held_fast.append(decision)
            elif entered is True:
                held_fast.append(None)
            decision = slow.acquire()
            if isinstance(decision, Permit) and decision.start(lag) is None:
                held_slow.append(decision)
        elif held_slow:
            i = rng.randrange(len(held_slow))
            one = held_fast.pop(i)
            if one is None:
                fast.leave()
            else:
                one.success()
            held_slow.pop(i).success()
        assert fast.statistics() == slow.statistics(), step
    assert slow.statistics().rejected["expired"] > 0  # the run did slough at start
    assert slow.limit.statistics().decreases > 0
    assert slow.limit.statistics().increases > 0


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
