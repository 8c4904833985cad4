"""WaitQueue (spec §3): controlled delay, adaptive LIFO, active expiry, priority, cancellation."""

from __future__ import annotations

import pytest

from healthgauge.overload import ConfigError, Criticality, Expiry, QueueEntry, QueueOrder, RejectReason, WaitQueue

MS = 0.001


class Item(QueueEntry):
    __slots__ = ("name",)

    def __init__(self, name: str, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.name = name


def names(entries: list[Item]) -> list[str]:
    return [e.name for e in entries]


def served(queue: WaitQueue[Item], now: float) -> str | None:
    entry, _ = queue.pop(now)
    return None if entry is None else entry.name


def test_fifo_while_not_standing_then_lifo_once_standing() -> None:
    q: WaitQueue[Item] = WaitQueue(capacity=100, capacity_ratio=None, idle_timeout=None, standing_timeout=None)
    for i in range(6):
        assert q.push(Item(str(i)), i * MS) == []
    assert not q.standing(10 * MS)
    assert served(q, 10 * MS) == "0"  # FIFO
    assert q.standing(101 * MS)  # non-empty since t = 0 for longer than N = 100 ms
    assert served(q, 101 * MS) == "5"  # LIFO: the newest caller is still waiting
    assert served(q, 102 * MS) == "4"


def test_standing_depends_on_emptiness_not_on_the_order_served() -> None:
    """§3 rule 5: LIFO must not switch itself off (the folly-minimum failure of §11.7)."""
    q: WaitQueue[Item] = WaitQueue(capacity=100, capacity_ratio=None, idle_timeout=None, standing_timeout=None)
    t = 0.0
    q.push(Item("old"), t)
    for i in range(300):  # one in, one out, always LIFO-fresh: a standing queue all the same
        t += MS
        q.push(Item(f"n{i}"), t)
        q.pop(t)
    assert q.standing(t)
    assert len(q) == 1


def test_controlled_delay_timeouts_n_then_m() -> None:
    q: WaitQueue[Item] = WaitQueue(capacity=100, capacity_ratio=None)
    q.push(Item("a"), 0.0)
    assert q.expire(99 * MS) == []
    expired = q.expire(101 * MS)  # N = 100 ms while not standing
    assert names(expired) == ["a"]
    assert expired[0].reason is RejectReason.EXPIRED
    # Keep the queue non-empty past N: it turns standing and the timeout drops to M = 5 ms.
    t = 0.2
    q.push(Item("b"), t)
    for i in range(19):
        t += 5 * MS
        q.push(Item(f"c{i}"), t)
    assert len(q) == 20
    assert not q.standing(t)
    t += 6 * MS
    assert q.standing(t)
    removed = q.push(Item("late"), t)  # standing: everything older than 5 ms leaves (active expiry)
    assert len(removed) == 20
    assert names(q.expire(t)) == []
    assert len(q) == 1


def test_deadline_beats_the_queue_timeout() -> None:
    q: WaitQueue[Item] = WaitQueue(capacity=100, capacity_ratio=None)
    q.push(Item("a", deadline=0.03), 0.0)
    removed = q.expire(0.03)
    assert names(removed) == ["a"]
    assert removed[0].reason is RejectReason.DEADLINE


def test_without_active_expiry_lifo_leaves_stale_entries_at_the_bottom() -> None:
    """§3's failure mode: expiry only at dequeue lets stale entries pile up under LIFO."""

    def run(expiry: Expiry) -> int:
        q: WaitQueue[Item] = WaitQueue(capacity=None, capacity_ratio=None, order=QueueOrder.LIFO, expiry=expiry)
        t = 0.0
        for i in range(3000):  # 3 arrivals per service: a persistent overload
            t += MS
            q.push(Item(str(i)), t)
            if i % 3 == 0:
                q.pop(t)
        return len(q)

    assert run(Expiry.AT_DEQUEUE) > 1500
    assert run(Expiry.ACTIVE) < 10


def test_lifo_without_expiry_is_refused() -> None:
    with pytest.raises(ConfigError, match="LIFO queue needs expiry"):
        WaitQueue(order=QueueOrder.ADAPTIVE_LIFO, expiry=Expiry.NONE)


def test_capacity_follows_the_limit_by_default() -> None:
    q: WaitQueue[Item] = WaitQueue()
    assert q.capacity_for(16) == 8
    assert q.capacity_for(1) == 1
    assert q.capacity_for(None) == float("inf")
    for i in range(8):
        assert q.push(Item(str(i)), 0.0, limit=16) == []
    rejected = q.push(Item("x"), 0.0, limit=16)
    assert names(rejected) == ["x"]
    assert rejected[0].reason is RejectReason.QUEUE_FULL
    fixed: WaitQueue[Item] = WaitQueue(capacity=3, capacity_ratio=0.5)
    assert fixed.capacity_for(100) == 3


def test_a_full_queue_evicts_the_oldest_of_the_lowest_level_for_a_higher_arrival() -> None:
    q: WaitQueue[Item] = WaitQueue(capacity=3, capacity_ratio=None)
    q.push(Item("s1", criticality=Criticality.SHEDDABLE), 0.0)
    q.push(Item("s2", criticality=Criticality.SHEDDABLE), 0.001)
    q.push(Item("c1", criticality=Criticality.CRITICAL), 0.002)
    evicted = q.push(Item("c2", criticality=Criticality.CRITICAL), 0.003)
    assert names(evicted) == ["s1"]
    assert evicted[0].reason is RejectReason.PRIORITY
    same = Item("s3", criticality=Criticality.SHEDDABLE)
    assert q.push(same, 0.004) == [same]
    assert [served(q, 0.005) for _ in range(3)] == ["c1", "c2", "s2"]


def test_cancelled_entries_leave_at_once() -> None:
    q: WaitQueue[Item] = WaitQueue(capacity=10, capacity_ratio=None)
    a, b = Item("a"), Item("b")
    q.push(a, 0.0)
    q.push(b, 0.0)
    assert q.remove(a, 0.001)
    assert not q.remove(a, 0.001)
    assert served(q, 0.002) == "b"
    assert q.statistics(0.002).cancelled == 1


def test_next_expiry_accounts_for_the_queue_turning_standing() -> None:
    q: WaitQueue[Item] = WaitQueue(capacity=10, capacity_ratio=None)
    assert q.next_expiry(0.0) is None
    q.push(Item("a"), 0.0)
    assert q.next_expiry(0.0) == pytest.approx(0.1)  # N, or standing at 0.1 then M: both 0.1
    q.push(Item("b", deadline=0.05), 0.01)
    assert q.next_expiry(0.01) == pytest.approx(0.05)
    q.expire(0.06)
    q.push(Item("c"), 0.08)
    # Standing at 0.1 (non-empty since 0.0): c's timeout becomes M = 5 ms, i.e. 0.1 > 0.085.
    assert q.next_expiry(0.08) == pytest.approx(0.1)


def test_oldest_age_and_statistics() -> None:
    q: WaitQueue[Item] = WaitQueue(capacity=10, capacity_ratio=None)
    q.push(Item("a", criticality=Criticality.SHEDDABLE), 0.0)
    q.push(Item("b"), 0.02)
    stats = q.statistics(0.05, limit=40)
    assert stats.oldest_age == pytest.approx(0.05)
    assert stats.length == 2
    assert stats.capacity == 10
    assert stats.pushed == 2
    assert not stats.standing


def test_capacity_zero_admits_nobody() -> None:
    q: WaitQueue[Item] = WaitQueue(capacity=0, capacity_ratio=None)
    entry = Item("a")
    assert q.push(entry, 0.0) == [entry]
    assert entry.reason is RejectReason.QUEUE_FULL
