"""The broker's scheduling core (spec §7 rules 2-7): offers, class queues, pulls. Pure, time passed in.

A request is offered to up to three workers (:meth:`Broker.offers`); a refusal is cheap and only
marks the worker full. If all refuse it waits in its class's queue — interactive LIFO (the newest
caller is the one still waiting), batch FIFO, critical by priority then age — each bounded and
actively expired (spec §3 rules 1-3). A worker that becomes free pulls the next job: priority
queue first, then LIFO, then FIFO (HG).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

from healthgauge.broker._registry import Registry

__all__ = ["Broker", "Job", "JobClass", "JobState", "QueueStatistics"]


class JobClass(enum.Enum):
    CRITICAL = "critical"  # priority queue
    INTERACTIVE = "interactive"  # LIFO
    BATCH = "batch"  # FIFO


class JobState(enum.Enum):
    NEW = "new"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


# Pull order across the class queues (spec §7 rule 6, HG).
PULL_ORDER = (JobClass.CRITICAL, JobClass.INTERACTIVE, JobClass.BATCH)


class Job:
    """One request through the broker; ``waiter`` belongs to the adapter."""

    __slots__ = (
        "deadline",
        "enqueued",
        "job_class",
        "key",
        "payload",
        "priority",
        "reason",
        "state",
        "waiter",
        "worker",
    )

    def __init__(
        self,
        payload: object = None,
        *,
        deadline: float,
        job_class: JobClass = JobClass.INTERACTIVE,
        key: str | bytes | None = None,
        priority: int = 0,
    ) -> None:
        self.payload = payload
        self.deadline = deadline
        self.job_class = job_class
        self.key = key
        self.priority = priority
        self.state = JobState.NEW
        self.enqueued = 0.0
        self.worker: Hashable | None = None
        self.reason = ""
        self.waiter: object = None

    def __repr__(self) -> str:
        return f"Job({self.job_class.value}, {self.state.value}, worker={self.worker!r}, reason={self.reason!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStatistics:
    """Per class: the primary alerts of Spillway (spec §7 rule 7)."""

    length: int
    oldest_age: float
    capacity: int
    rejected: int
    expired: int


class Broker:
    """Class queues and pulls over a :class:`Registry`.

    ``capacity`` bounds each class queue (HG default 64 each); ``max_wait`` is the longest a job
    waits (Netflix ``LifoBlockingLimiter``'s backlog timeout, 1 s) unless its deadline is sooner.
    """

    def __init__(self, registry: Registry, *, capacity: int = 64, max_wait: float = 1.0) -> None:
        if capacity < 0 or not max_wait > 0:
            raise ValueError(f"Broker: need capacity ≥ 0 and max_wait > 0, got {capacity}, {max_wait}")
        self.registry = registry
        self.capacity = capacity
        self.max_wait = max_wait
        self._queues: dict[JobClass, deque[Job]] = {c: deque() for c in JobClass}
        self._rejected = dict.fromkeys(JobClass, 0)
        self._expired = dict.fromkeys(JobClass, 0)

    def offers(self, job: Job, now: float) -> list[Hashable]:
        """Workers to offer ``job`` to, in order (at most ``registry.max_offers``)."""
        return self.registry.candidates(now=now, key=job.key)

    def refused(self, job: Job, worker: Hashable, now: float) -> None:
        self.registry.refused(worker, now=now)

    def accepted(self, job: Job, worker: Hashable) -> None:
        job.state = JobState.ASSIGNED
        job.worker = worker

    def enqueue(self, job: Job, now: float) -> bool:
        """Queue ``job`` after every offer was refused; False (``job.reason``) when it cannot wait."""
        self.expire(now)
        if now >= job.deadline:
            return self._reject(job, "deadline")
        queue = self._queues[job.job_class]
        if len(queue) >= self.capacity:
            return self._reject(job, "queue_full")
        job.state = JobState.QUEUED
        job.enqueued = now
        queue.append(job)
        return True

    def cancel(self, job: Job) -> None:
        if job.state is JobState.QUEUED:
            self._queues[job.job_class].remove(job)
            job.state = JobState.CANCELLED

    def pull(self, worker: Hashable, now: float) -> Job | None:
        """The next job for a free ``worker``, or None; expired jobs are dropped first."""
        self.expire(now)
        for job_class in PULL_ORDER:
            queue = self._queues[job_class]
            if not queue:
                continue
            if job_class is JobClass.CRITICAL:
                job = max(queue, key=lambda j: (j.priority, -j.enqueued))
                queue.remove(job)
            elif job_class is JobClass.INTERACTIVE:
                job = queue.pop()
            else:
                job = queue.popleft()
            self.accepted(job, worker)
            return job
        return None

    def expire(self, now: float) -> list[Job]:
        """Reject queued jobs past ``max_wait`` or their deadline (reasons ``expired``/``deadline``)."""
        out: list[Job] = []
        for job_class, queue in self._queues.items():
            if not queue:
                continue
            keep: deque[Job] = deque()
            for job in queue:
                if now >= job.deadline or now - job.enqueued > self.max_wait:
                    job.state = JobState.REJECTED
                    job.reason = "deadline" if now >= job.deadline else "expired"
                    self._expired[job_class] += 1
                    out.append(job)
                else:
                    keep.append(job)
            if len(keep) != len(queue):
                self._queues[job_class] = keep
        return out

    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def statistics(self, now: float) -> dict[JobClass, QueueStatistics]:
        return {
            c: QueueStatistics(
                length=len(q),
                oldest_age=max((now - j.enqueued for j in q), default=0.0),
                capacity=self.capacity,
                rejected=self._rejected[c],
                expired=self._expired[c],
            )
            for c, q in self._queues.items()
        }

    def _reject(self, job: Job, reason: str) -> bool:
        job.state = JobState.REJECTED
        job.reason = reason
        self._rejected[job.job_class] += 1
        return False
