"""AdmissionController with a fake clock: permits, waiters, rejections and their reasons."""

from __future__ import annotations

import random

import pytest

from healthgauge.overload import (
    AdmissionController,
    ConfigError,
    Criticality,
    FixedLimit,
    FollyCodel,
    Permit,
    QueueDelayLimit,
    QueueOrder,
    Rejection,
    RejectReason,
    Waiter,
    WaitQueue,
)
from healthgauge.testing import FakeClock


def controller(clock: FakeClock, limit: float = 2, **kwargs: object) -> AdmissionController:
    return AdmissionController(FixedLimit(limit), clock=clock, rng=random.Random(1), **kwargs)  # type: ignore[arg-type]


def permit(decision: object) -> Permit:
    assert isinstance(decision, Permit), decision
    return decision


def rejection(decision: object) -> Rejection:
    assert isinstance(decision, Rejection), decision
    return decision


def waiter(decision: object) -> Waiter:
    assert isinstance(decision, Waiter), decision
    return decision


def test_permits_up_to_the_limit_then_rejects_with_a_retry_hint() -> None:
    clock = FakeClock()
    ctl = controller(clock)
    first, second = permit(ctl.acquire()), permit(ctl.acquire())
    refused = rejection(ctl.acquire())
    assert refused.reason is RejectReason.LIMIT
    assert refused.retry_after in (1, 2)
    assert ctl.inflight == 2
    first.success()
    assert ctl.inflight == 1
    permit(ctl.acquire())
    second.ignore()
    stats = ctl.statistics()
    assert stats.admitted == 3
    assert stats.rejected["limit"] == 1
    assert stats.completed == {"success": 1, "dropped": 0, "ignored": 1}


def test_a_permit_completes_exactly_once() -> None:
    ctl = controller(FakeClock())
    p = permit(ctl.acquire())
    p.success()
    with pytest.raises(RuntimeError, match="completed twice"):
        p.dropped()
    assert ctl.inflight == 0


def test_start_twice_is_an_error() -> None:
    ctl = controller(FakeClock())
    p = permit(ctl.acquire())
    assert p.start() is None
    with pytest.raises(RuntimeError, match="twice"):
        p.start()


def test_a_passed_deadline_is_rejected_without_retry_hint() -> None:
    clock = FakeClock(10)
    ctl = controller(clock)
    refused = rejection(ctl.acquire(deadline=9.5))
    assert refused.reason is RejectReason.DEADLINE
    assert refused.retry_after is None


def test_draining_rejects_new_work_even_in_monitor_mode() -> None:
    ctl = controller(FakeClock(), monitor_only=True)
    ctl.set_draining()
    assert rejection(ctl.acquire()).reason is RejectReason.DRAINING
    ctl.set_draining(False)
    permit(ctl.acquire())


def test_rejections_are_never_samples() -> None:
    """Spec §8: 1,000 rejections do not change L (Netflix concurrency-limits#176)."""
    clock = FakeClock()
    limit = QueueDelayLimit(initial=4, min_limit=2)
    ctl = AdmissionController(limit, clock=clock)
    held = [permit(ctl.acquire()) for _ in range(4)]
    before = limit.limit
    for _ in range(1000):
        clock.advance(0.001)
        assert isinstance(ctl.acquire(), Rejection)
    assert limit.limit == before
    for p in held:
        p.ignore()


def test_monitor_only_admits_everything_and_counts_would_be_rejections() -> None:
    ctl = controller(FakeClock(), limit=1, monitor_only=True)
    permits = [permit(ctl.acquire()) for _ in range(5)]
    stats = ctl.statistics()
    assert stats.would_reject["limit"] == 4
    assert stats.rejected["limit"] == 0
    assert ctl.inflight == 5
    for p in permits:
        p.success()


def test_a_queued_request_is_granted_when_a_permit_is_released() -> None:
    clock = FakeClock()
    ctl = controller(clock, limit=1, queue=WaitQueue(capacity=4, capacity_ratio=None))
    running = permit(ctl.acquire())
    queued = waiter(ctl.acquire())
    seen: list[Waiter] = []
    queued.add_done_callback(seen.append)
    assert not queued.done
    clock.advance(0.02)
    running.success()
    assert seen == [queued]
    assert queued.permit is not None
    assert queued.permit.granted_at == pytest.approx(0.02)
    # Its limit delay starts at the grant; its total delay (for the load figure) at receipt.
    clock.advance(0.001)
    assert queued.permit.start() is None
    queued.permit.success()
    late: list[Waiter] = []
    queued.add_done_callback(late.append)  # already resolved: runs at once
    assert late == [queued]


def test_queued_requests_expire_on_tick_with_the_controlled_delay_timeout() -> None:
    clock = FakeClock()
    ctl = controller(clock, limit=1, queue=WaitQueue(capacity=4, capacity_ratio=None))
    running = permit(ctl.acquire())
    queued = waiter(ctl.acquire())
    assert ctl.next_expiry() == pytest.approx(0.1)
    clock.advance(0.05)
    ctl.tick()
    assert not queued.done
    clock.advance(0.051)
    ctl.tick()
    assert queued.rejection is not None
    assert queued.rejection.reason is RejectReason.EXPIRED
    running.success()
    assert ctl.statistics().rejected["expired"] == 1


def test_a_waiter_past_its_deadline_is_rejected_with_reason_deadline() -> None:
    clock = FakeClock()
    ctl = controller(clock, limit=1, queue=WaitQueue(capacity=4, capacity_ratio=None))
    running = permit(ctl.acquire())
    queued = waiter(ctl.acquire(deadline=0.03))
    clock.advance(0.03)
    ctl.tick()
    assert queued.rejection is not None
    assert queued.rejection.reason is RejectReason.DEADLINE
    assert queued.rejection.retry_after is None
    running.success()


def test_cancelling_a_waiter_leaves_the_queue_and_releases_nothing() -> None:
    clock = FakeClock()
    queue: WaitQueue[Waiter] = WaitQueue(capacity=4, capacity_ratio=None)
    ctl = controller(clock, limit=1, queue=queue)
    running = permit(ctl.acquire())
    queued = waiter(ctl.acquire())
    queued.cancel()
    assert len(queue) == 0
    assert ctl.inflight == 1
    running.success()
    assert queued.permit is None


def test_cancelling_a_granted_waiter_releases_its_permit() -> None:
    clock = FakeClock()
    ctl = controller(clock, limit=1, queue=WaitQueue(capacity=4, capacity_ratio=None))
    running = permit(ctl.acquire())
    queued = waiter(ctl.acquire())
    running.success()
    assert ctl.inflight == 1
    queued.cancel()
    assert ctl.inflight == 0
    assert ctl.statistics().completed["ignored"] == 1


def test_full_queue_rejects_unless_the_arrival_outranks_someone() -> None:
    clock = FakeClock()
    ctl = controller(clock, limit=1, queue=WaitQueue(capacity=1, capacity_ratio=None), shed_sheddable=False)
    running = permit(ctl.acquire())
    low = waiter(ctl.acquire(criticality=Criticality.SHEDDABLE_PLUS))
    same = rejection(ctl.acquire(criticality=Criticality.SHEDDABLE_PLUS))
    assert same.reason is RejectReason.QUEUE_FULL
    high = waiter(ctl.acquire(criticality=Criticality.CRITICAL_PLUS))
    assert low.rejection is not None
    assert low.rejection.reason is RejectReason.PRIORITY
    running.success()
    assert high.permit is not None
    stats = ctl.statistics()
    assert stats.rejected_by_criticality["sheddable_plus"] == 2


def test_higher_criticality_is_served_first() -> None:
    clock = FakeClock()
    ctl = controller(clock, limit=1, queue=WaitQueue(capacity=8, capacity_ratio=None, order=QueueOrder.FIFO))
    running = permit(ctl.acquire())
    waiters = {}
    for name, level in (("a", Criticality.SHEDDABLE_PLUS), ("b", Criticality.CRITICAL), ("c", Criticality.CRITICAL)):
        waiters[name] = waiter(ctl.acquire(criticality=level))
    order = []
    current = running
    for _ in range(3):
        current.success()
        granted = [name for name, w in waiters.items() if w.permit is not None and name not in order]
        assert len(granted) == 1
        order += granted
        p = waiters[granted[0]].permit
        assert p is not None
        current = p
    current.success()
    assert order == ["b", "c", "a"]


def test_sheddable_requests_are_shed_while_overloaded_only() -> None:
    clock = FakeClock()
    detector_limit = QueueDelayLimit(initial=100)
    ctl = AdmissionController(detector_limit, clock=clock)
    # Not overloaded: sheddable work is admitted.
    p = permit(ctl.acquire(criticality=Criticality.SHEDDABLE))
    p.start()
    p.success()
    # A standing 20 ms delay for two intervals marks the server overloaded.
    for _ in range(30):
        clock.advance(0.01)
        q = permit(ctl.acquire(received_at=clock.now - 0.02))
        if q.start(extra_delay=0.02) is None:  # sloughed once overloaded: already released
            q.success()
    assert ctl.overloaded()
    refused = rejection(ctl.acquire(criticality=Criticality.SHEDDABLE))
    assert refused.reason is RejectReason.PRIORITY
    permit(ctl.acquire(criticality=Criticality.CRITICAL)).ignore()


def test_folly_detector_sloughs_at_start_and_releases_the_permit() -> None:
    clock = FakeClock()
    ctl = AdmissionController(FixedLimit(100), detector=FollyCodel(clock=clock), clock=clock)
    # spec §2.2's vectors: the delay is what the request waited after its grant (here: for a CPU).
    clock.set(0.11)
    first = permit(ctl.acquire())
    assert first.start(extra_delay=0.1) is None  # first of its interval: always served
    first.success()
    clock.set(0.2)
    a = permit(ctl.acquire())
    b = permit(ctl.acquire())
    assert a.start(extra_delay=0.05) is None
    shed = b.start(extra_delay=0.05)
    assert shed is not None
    assert shed.reason is RejectReason.EXPIRED
    assert b.done
    assert ctl.inflight == 1
    a.success()


def test_partitions_borrow_idle_capacity_and_keep_their_share_at_saturation() -> None:
    ctl = controller(FakeClock(), limit=10, partitions={"live": 0.9, "batch": 0.1})
    batch = [permit(ctl.acquire(partition="batch")) for _ in range(10)]  # borrows everything
    assert rejection(ctl.acquire(partition="batch")).reason is RejectReason.LIMIT
    live = [permit(ctl.acquire(partition="live")) for _ in range(9)]  # guaranteed share beyond L
    assert rejection(ctl.acquire(partition="live")).reason is RejectReason.LIMIT
    assert rejection(ctl.acquire(partition="other")).reason is RejectReason.LIMIT
    assert ctl.statistics().partitions == {"live": 9, "batch": 10}
    for p in batch + live:
        p.success()


def test_partition_shares_are_validated() -> None:
    with pytest.raises(ConfigError, match="sum to ≤ 1"):
        controller(FakeClock(), partitions={"a": 0.7, "b": 0.5})
    with pytest.raises(ConfigError, match="share must lie"):
        controller(FakeClock(), partitions={"a": 0.0})


def test_retry_after_grows_when_shedding_lasts_more_than_ten_seconds() -> None:
    clock = FakeClock()
    ctl = controller(clock, limit=1)
    held = permit(ctl.acquire())
    hints = []
    for _ in range(120):
        clock.advance(0.1)
        hints.append(rejection(ctl.acquire()).retry_after)
    assert set(hints[:99]) <= {1, 2}
    assert set(hints[101:]) <= {3, 4, 5}
    clock.advance(5)  # a quiet gap ends the streak
    assert rejection(ctl.acquire()).retry_after in (1, 2)
    held.success()


def test_load_figure_is_full_while_shedding_whatever_the_delay() -> None:
    """Shedding keeps the delay low: between refusals the delay alone said "no load", and the
    weight a load balancer heard swung with every release probe. Full while refusing, back to the
    delay's figure a streak gap after the last refusal."""
    clock = FakeClock()
    ctl = controller(clock, limit=1)
    held = permit(ctl.acquire())
    assert ctl.load() == 0
    rejection(ctl.acquire())  # at the limit, no queue: refused
    assert ctl.load() == 100
    clock.advance(0.9)
    assert ctl.load() == 100
    clock.advance(0.2)  # 1.1 s after the last refusal
    assert ctl.load() == 0
    held.success()


def test_load_figure_reads_the_total_queueing_delay() -> None:
    clock = FakeClock()
    ctl = controller(clock, limit=100)
    for _ in range(30):
        clock.advance(0.01)
        p = permit(ctl.acquire(received_at=clock.now - 0.007))
        p.start()
        p.success()
    assert ctl.load() == 70
    clock.advance(1.0)  # idle: no queue, no load
    assert ctl.load() == 0


def test_low_traffic_is_never_shed_by_the_default() -> None:
    """§8 low traffic / probe-induced shedding: 8 rps for 90 s, nothing rejected or sloughed."""
    clock = FakeClock()
    ctl = AdmissionController(clock=clock, rng=random.Random(3))
    rng = random.Random(5)
    while clock.now < 90:
        clock.advance(rng.expovariate(8))
        p = permit(ctl.acquire(received_at=clock.now))
        assert p.start(extra_delay=rng.random() * 0.002) is None
        clock.advance(rng.expovariate(100))
        p.success()
    stats = ctl.statistics()
    assert sum(stats.rejected.values()) == 0
    assert stats.limit == 1000  # the default starts at its maximum and is never cut without overload


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("critical", Criticality.CRITICAL),
        (" Sheddable-Plus ", Criticality.SHEDDABLE_PLUS),
        ("CRITICAL_PLUS", Criticality.CRITICAL_PLUS),
    ],
)
def test_criticality_parses_header_values(text: str, level: Criticality) -> None:
    assert Criticality.parse(text) is level


def test_criticality_rejects_unknown_names_with_the_offending_text() -> None:
    with pytest.raises(ValueError, match="unknown criticality 'urgent': expected one of sheddable, "):
        Criticality.parse("urgent")
