"""The broker's class queues, pull order and asyncio adapter (spec §7 rules 3-7)."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable

import pytest

from healthgauge.broker import AsyncBroker, Broker, BrokerRejected, Job, JobClass, JobState, Registry, WorkerReport
from healthgauge.overload import Criticality


def broker(capacity: int = 4, max_wait: float = 1.0, workers: int = 3) -> Broker:
    reg = Registry()
    for i in range(workers):
        reg.report(f"w{i}", WorkerReport(n=0, limit=4), now=0)
    return Broker(reg, capacity=capacity, max_wait=max_wait)


def test_pull_order_priority_then_lifo_then_fifo() -> None:
    b = broker()
    batch = [Job(f"b{i}", deadline=10, job_class=JobClass.BATCH) for i in range(2)]
    inter = [Job(f"i{i}", deadline=10, job_class=JobClass.INTERACTIVE) for i in range(2)]
    levels = (Criticality.SHEDDABLE_PLUS, Criticality.CRITICAL_PLUS, Criticality.CRITICAL_PLUS)
    crit = [Job(f"c{int(c)}", deadline=10, job_class=JobClass.CRITICAL, criticality=c) for c in levels]
    for t, job in enumerate(batch + inter + crit):
        assert b.enqueue(job, now=t * 0.01) == (True, [])
    order = []
    while (job := b.pull("w0", now=0.2)[0]) is not None:
        order.append(job.payload)
        assert job.state is JobState.ASSIGNED
        assert job.worker == "w0"
    # critical by priority then age; interactive newest first; batch oldest first
    assert order == ["c3", "c3", "c1", "i1", "i0", "b0", "b1"]
    assert crit[1] is not crit[2]


def test_bounded_queues_and_active_expiry() -> None:
    b = broker(capacity=2, max_wait=0.5)
    jobs = [Job(i, deadline=10) for i in range(3)]
    assert b.enqueue(jobs[0], now=0)[0]
    assert b.enqueue(jobs[1], now=0.4)[0]
    assert not b.enqueue(jobs[2], now=0.4)[0]
    assert jobs[2].why == "queue_full"
    expired = b.expire(now=0.6)
    assert expired == [jobs[0]]
    assert jobs[0].why == "expired"
    late = Job("late", deadline=0.7)
    assert b.enqueue(late, now=0.65)[0]
    assert b.expire(now=0.7) == [late]
    assert late.why == "deadline"
    stats = b.statistics(now=0.7)[JobClass.INTERACTIVE]
    assert (stats.length, stats.rejected, stats.expired) == (1, 1, 2)
    assert stats.oldest_age == pytest.approx(0.3)
    assert not b.enqueue(Job("past", deadline=0.1), now=0.7)[0]


def test_cancel_removes_the_job() -> None:
    b = broker()
    job = Job("x", deadline=10)
    b.enqueue(job, now=0)
    b.cancel(job, now=0.05)
    assert job.state is JobState.CANCELLED
    assert b.pull("w0", now=0.1) == (None, [])


async def test_async_offers_in_turn_then_queues_then_pulls() -> None:
    b = broker(workers=3)
    asked: list[Hashable] = []
    accepting: set[Hashable] = set()

    async def offer(worker: Hashable, payload: object) -> bool:
        asked.append(worker)
        return worker in accepting

    ab = AsyncBroker(b, offer)
    loop = asyncio.get_running_loop()
    accepting.add("w2")
    assert await ab.submit("a", deadline=loop.time() + 5) == "w2"
    assert asked[-1] == "w2"

    assert asked == ["w0", "w1", "w2"]  # a refusal marks the worker full until it reports again
    accepting.clear()
    asked.clear()
    task = asyncio.create_task(ab.submit("b", deadline=loop.time() + 5))
    await asyncio.sleep(0.01)
    assert asked == ["w2"]  # w0 and w1 refused a moment ago: only w2 is asked before queueing
    assert b.queued() == 1
    assert ab.worker_free("w1") == "b"
    assert await asyncio.wait_for(task, 1) == "w1"


async def test_async_rejects_when_it_cannot_wait() -> None:
    b = broker(capacity=0)

    async def refuse(worker: Hashable, payload: object) -> bool:
        return False

    ab = AsyncBroker(b, refuse)
    with pytest.raises(BrokerRejected, match="queue_full"):
        await ab.submit("x", deadline=asyncio.get_running_loop().time() + 5)


async def test_async_expiry_wakes_the_submitter() -> None:
    b = broker(max_wait=0.05)

    async def refuse(worker: Hashable, payload: object) -> bool:
        return False

    ab = AsyncBroker(b, refuse)
    with pytest.raises(BrokerRejected, match="expired"):
        await asyncio.wait_for(ab.submit("x", deadline=asyncio.get_running_loop().time() + 5), 2)
    assert b.queued() == 0


async def test_async_cancelled_submitter_leaves_the_queue() -> None:
    b = broker()

    async def refuse(worker: Hashable, payload: object) -> bool:
        return False

    ab = AsyncBroker(b, refuse)
    task = asyncio.create_task(ab.submit("x", deadline=asyncio.get_running_loop().time() + 5))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert b.queued() == 0
    assert ab.worker_free("w0") is None


def test_a_more_critical_job_evicts_from_a_full_queue() -> None:
    b = broker(capacity=1)
    low = Job("low", deadline=10, job_class=JobClass.CRITICAL, criticality=Criticality.SHEDDABLE)
    high = Job("high", deadline=10, job_class=JobClass.CRITICAL, criticality=Criticality.CRITICAL_PLUS)
    assert b.enqueue(low, now=0) == (True, [])
    assert b.enqueue(high, now=0.1) == (True, [low])
    assert (low.state, low.why) == (JobState.REJECTED, "priority")
    assert b.pull("w1", now=0.2)[0] is high
