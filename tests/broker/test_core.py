"""The scheduling core's additions for the service: load learned from agent-check words, this
broker's own in-flight count, failed workers backing off, per-queue bounds kept over a reload."""

from __future__ import annotations

import pytest

from healthgauge.broker import (
    Broker,
    Job,
    JobClass,
    JobState,
    QueueLimits,
    Registry,
    WorkerReport,
    parse_load,
    rendezvous_order,
)


def test_load_words_become_a_report() -> None:
    assert parse_load("up ready 70% maxconn:4 inflight:3", cap=8) == WorkerReport(n=3, limit=4, load=30.0)
    assert parse_load("inflight:2", cap=4) == WorkerReport(n=2, limit=4, load=50.0)
    assert parse_load("drain", cap=4) == WorkerReport(n=0, limit=4, load=0.0, draining=True)
    assert parse_load("down #db gone 10%", cap=4) == WorkerReport(n=0, limit=4, load=0.0, draining=True)
    assert parse_load("bogus words", cap=4) is None
    assert parse_load("", cap=4) is None


def test_a_worker_is_full_at_this_brokers_own_cap() -> None:
    reg = Registry()
    reg.add("a", cap=2, now=0)
    reg.add("b", cap=2, now=0)
    reg.started("a")
    reg.started("a")
    assert reg.candidates(now=0) == ["b"]
    assert reg.view("a", now=0).load == 100.0
    reg.finished("a")
    assert set(reg.candidates(now=0)) == {"a", "b"}
    reg.finished("a")
    reg.finished("a")  # more finishes than starts never go below zero
    assert reg.local("a") == 0


def test_a_refusal_holds_until_the_next_report_or_the_backoff() -> None:
    reg = Registry(refusal_backoff=0.25)
    reg.report("a", WorkerReport(n=1, limit=4), now=1.0)
    reg.refused("a", now=1.0)
    assert reg.candidates(now=1.1) == []
    assert reg.candidates(now=1.3) == ["a"]
    reg.refused("a", now=1.3)
    reg.report("a", WorkerReport(n=0, limit=4), now=1.31)
    assert reg.candidates(now=1.31) == ["a"]


def test_failures_back_off_doubling_and_an_answer_ends_them() -> None:
    reg = Registry(failure_backoff=0.5)
    reg.add("a", cap=4, now=0)
    reg.add("b", cap=4, now=0)
    assert reg.failed("a", now=0) == 0.5
    assert reg.failed("a", now=0.5) == 1.5
    assert reg.failed("a", now=1.0) == 1.5  # another request under way failing meanwhile: no new evidence
    assert reg.candidates(now=1.0) == ["b"]
    assert not reg.up("a", now=1.0)
    assert reg.up("a", now=1.5)
    reg.failed("a", now=2.0)
    reg.report("a", WorkerReport(n=0, limit=4), now=2.1)
    assert reg.up("a", now=2.1)


def test_a_request_is_overdue_past_four_times_its_class_median_answer() -> None:
    reg = Registry()
    assert reg.overdue("batch", 0.01)  # nothing learned yet: any silence counts
    for seconds in [0.8] * 40 + [30.0] * 10:  # a few very slow answers do not move the median
        reg.answered_in("batch", seconds)
    reg.answered_in("interactive", 0.01)
    assert not reg.overdue("batch", 2.4)  # a long request's deadline: late, not hung
    assert reg.overdue("batch", 3.3)
    assert reg.overdue("interactive", 0.05)


def test_home_is_the_first_worker_up_in_the_keys_order() -> None:
    reg = Registry()
    names = ["a", "b", "c", "d"]
    for n in names:
        reg.add(n, cap=4, now=0)
    order = rendezvous_order("key", names)
    assert reg.home("key", now=0) == order[0]
    reg.failed(order[0], now=0)
    assert reg.home("key", now=0.1) == order[1]


def test_per_class_limits_pull_order_and_a_reload_that_keeps_the_queues() -> None:
    reg = Registry()
    reg.add("w", cap=1, now=0)
    limits = {JobClass.BATCH: QueueLimits(capacity=1, max_wait=5.0)}
    core = Broker(reg, limits=limits, pull_order=(JobClass.BATCH, JobClass.INTERACTIVE, JobClass.CRITICAL))
    batch = Job("b", deadline=10, job_class=JobClass.BATCH)
    inter = Job("i", deadline=10)
    assert core.enqueue(batch, 0)[0]
    assert not core.enqueue(Job("b2", deadline=10, job_class=JobClass.BATCH), 0)[0]
    assert core.enqueue(inter, 0)[0]
    core.configure(limits={JobClass.BATCH: QueueLimits(capacity=5, max_wait=5.0)}, pull_order=core.pull_order)
    assert core.queued() == 2
    assert core.statistics(0)[JobClass.BATCH].capacity == 5
    assert core.pull("w", 0.1)[0] is batch
    with pytest.raises(ValueError, match="pull_order"):
        core.configure(limits={}, pull_order=(JobClass.BATCH,))
    assert [j.payload for j in core.drain(0.2)] == ["i"]
    assert inter.state is JobState.REJECTED
    assert inter.why == "draining"
    assert core.queued() == 0


def test_a_free_worker_takes_the_jobs_of_its_keys_first() -> None:
    reg = Registry()
    for n in ("a", "b"):
        reg.add(n, cap=1, now=0)
    core = Broker(reg)
    jobs = [Job(i, deadline=10) for i in range(4)]
    jobs[0].home = jobs[2].home = "a"
    jobs[1].home = "b"
    for t, job in enumerate(jobs):
        assert core.enqueue(job, t * 0.01)[0]
    assert core.pull("a", 0.1)[0] is jobs[2]  # its newest (interactive is LIFO), not jobs[3]
    assert core.pull("a", 0.1)[0] is jobs[0]
    assert core.pull("a", 0.1)[0] is jobs[3]  # none of its own left: the queue's next
    assert core.pull("a", 0.1)[0] is jobs[1]
    assert core.queued() == 0
    batch = [Job(i, deadline=10, job_class=JobClass.BATCH) for i in range(3)]
    for job in batch:
        job.home = "b"
        core.enqueue(job, 0.2)
    assert core.pull("b", 0.3)[0] is batch[0]  # FIFO within the class
    core.cancel(batch[1], 0.3)
    assert core.pull("b", 0.3)[0] is batch[2]


def test_a_job_held_for_its_busy_home_goes_there_when_it_frees_or_elsewhere_after_the_wait() -> None:
    reg = Registry()
    for n in ("a", "b"):
        reg.add(n, cap=1, now=0)
    core = Broker(reg, affinity_wait=0.02)
    first, second = Job(1, deadline=10), Job(2, deadline=10)
    first.home = second.home = "a"
    assert core.hold(first, now=0.0)
    assert not core.hold(second, now=0.0), "a holds at most as many as it has slots"
    assert core.queued() == 1
    assert core.pull("b", now=0.01) == (None, []), "another worker does not take it while it waits"
    assert core.pull("a", now=0.01)[0] is first
    assert core.hold(second, now=0.1)
    assert core.release(now=0.11) == []
    assert core.release(now=0.125) == [second]
    assert second.state is JobState.NEW
    assert core.queued() == 0
    third = Job(3, deadline=10)
    third.home = "a"
    assert core.hold(third, now=0.2)
    core.cancel(third, now=0.2)
    assert third.state is JobState.CANCELLED
    assert core.queued() == 0
    assert core.pull("a", now=0.21) == (None, [])
    assert not Broker(reg).hold(Job(4, deadline=10), now=0), "off unless affinity_wait > 0"


def test_the_brokers_agent_line_follows_its_queues_and_drain() -> None:
    from types import SimpleNamespace

    from healthgauge.broker._agents import agent_line

    svc = SimpleNamespace(draining=False, queue_fill=lambda: 0.0)
    assert agent_line(svc) == b"up ready 100%\n"  # type: ignore[arg-type]
    svc.queue_fill = lambda: 1.0
    assert agent_line(svc) == b"up ready 10%\n"  # type: ignore[arg-type]
    svc.draining = True
    assert agent_line(svc).startswith(b"up drain")  # type: ignore[arg-type]
