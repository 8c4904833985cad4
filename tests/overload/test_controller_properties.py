"""Property test: any sequence of arrivals, starts, completions, cancellations, ticks and clock
moves keeps the controller's books straight (spec §1.2's invariants)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from healthgauge.overload import (
    AdmissionController,
    Criticality,
    EnvoyGradientLimit,
    FixedLimit,
    Gradient2Limit,
    Limit,
    Permit,
    QueueDelayLimit,
    Rejection,
    VegasLimit,
    Waiter,
    WaitQueue,
    WindowedLimit,
)
from healthgauge.testing import FakeClock

LIMITS = {
    "queue_delay": lambda: QueueDelayLimit(initial=4, min_limit=2, max_limit=50),
    "fixed": lambda: FixedLimit(3),
    "gradient2": lambda: WindowedLimit(Gradient2Limit(initial=4, min_limit=2, max_limit=50)),
    "vegas": lambda: WindowedLimit(VegasLimit(initial=4, max_limit=50, rng=random.Random(1))),
    "envoy": lambda: EnvoyGradientLimit(max_limit=50, request_count=5, rng=random.Random(1)),
}

operation = st.one_of(
    st.tuples(st.just("acquire"), st.sampled_from(list(Criticality)), st.floats(0.0, 0.3)),
    st.tuples(st.just("start"), st.integers(0, 50), st.floats(0.0, 0.02)),
    st.tuples(st.just("finish"), st.integers(0, 50), st.sampled_from(["success", "dropped", "ignore"])),
    st.tuples(st.just("cancel"), st.integers(0, 50), st.just(0)),
    st.tuples(st.just("tick"), st.just(0), st.just(0)),
    st.tuples(st.just("advance"), st.floats(0.0, 0.2), st.just(0)),
)


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(sorted(LIMITS)),
    queued=st.booleans(),
    monitor=st.booleans(),
    ops=st.lists(operation, max_size=120),
)
def test_books_stay_straight(kind: str, queued: bool, monitor: bool, ops: list[tuple[object, object, object]]) -> None:
    clock = FakeClock(100.0)
    limit: Limit = LIMITS[kind]()
    queue: WaitQueue[Waiter] | None = WaitQueue(capacity=3, capacity_ratio=None) if queued else None
    ctl = AdmissionController(limit, queue=queue, monitor_only=monitor, clock=clock, rng=random.Random(2))
    permits: list[Permit] = []
    waiters: list[Waiter] = []
    resolutions: dict[int, int] = {}

    def note(waiter: Waiter) -> None:
        resolutions[id(waiter)] = resolutions.get(id(waiter), 0) + 1
        assert (waiter.permit is None) != (waiter.rejection is None)

    for op, a, b in ops:
        if op == "acquire":
            assert isinstance(a, Criticality)
            assert isinstance(b, float)
            decision = ctl.acquire(criticality=a, deadline=clock.now + b if b else None)
            if isinstance(decision, Permit):
                permits.append(decision)
            elif isinstance(decision, Waiter):
                assert not monitor
                decision.add_done_callback(note)
                waiters.append(decision)
            else:
                assert isinstance(decision, Rejection)
                assert decision.retry_after is None or 1 <= decision.retry_after <= 5
        elif op == "start" and permits:
            assert isinstance(a, int)
            p = permits[a % len(permits)]
            if not p.done and p.started_at is None:
                p.start(extra_delay=float(b))  # type: ignore[arg-type]
        elif op == "finish" and permits:
            assert isinstance(a, int)
            p = permits[a % len(permits)]
            if not p.done:
                getattr(p, str(b))()
        elif op == "cancel" and waiters:
            assert isinstance(a, int)
            waiters[a % len(waiters)].cancel()
        elif op == "tick":
            ctl.tick()
        elif op == "advance":
            assert isinstance(a, float)
            clock.advance(a)
        for w in waiters:  # granted permits join the pool the test drives
            if w.permit is not None and w.permit not in permits:
                permits.append(w.permit)
        outstanding = sum(1 for p in permits if not p.done)
        assert ctl.inflight == outstanding
        assert limit.min_limit <= limit.limit <= limit.max_limit
        assert limit.limit >= 1
        if queue is not None:
            assert len(queue) == sum(1 for w in waiters if w.queued)
            assert len(queue) <= 3
    assert all(count == 1 for count in resolutions.values())
    stats = ctl.statistics()
    assert stats.inflight == ctl.inflight
    assert sum(stats.completed.values()) == sum(1 for p in permits if p.done)
