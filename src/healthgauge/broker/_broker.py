"""The broker's scheduling core (spec §7 rules 2-7): offers, class queues, pulls. Pure, time passed in.

A request is offered to up to three workers (:meth:`Broker.offers`); a refusal is cheap and only
marks the worker full. If all refuse it waits in its class's queue — interactive LIFO (the newest
caller is the one still waiting), batch FIFO, critical by criticality then age — each one the
overload core's :class:`~healthgauge.overload.WaitQueue`, bounded and actively expired (spec §3
rules 1-3). A worker that becomes free pulls the next job: priority queue first, then LIFO, then
FIFO (HG).
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from healthgauge.broker._registry import Registry
from healthgauge.overload._queue import QueueEntry, QueueOrder, WaitQueue
from healthgauge.overload._types import Criticality

__all__ = ["Broker", "ClassQueueStatistics", "Job", "JobClass", "JobState", "QueueLimits", "QueueStatistics"]


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


# Each class's order in the core's wait queue (spec §7 rule 4).
_ORDER = {JobClass.CRITICAL: QueueOrder.FIFO, JobClass.INTERACTIVE: QueueOrder.LIFO, JobClass.BATCH: QueueOrder.FIFO}


class Job(QueueEntry):
    """One request through the broker; ``waiter`` belongs to the adapter. ``criticality`` orders
    the critical class's queue (highest first, oldest first within a level); ``why`` is the word
    of its rejection, if any."""

    __slots__ = ("job_class", "key", "payload", "state", "waiter", "why", "worker")

    def __init__(
        self,
        payload: object = None,
        *,
        deadline: float,
        job_class: JobClass = JobClass.INTERACTIVE,
        key: str | bytes | None = None,
        criticality: Criticality = Criticality.CRITICAL,
    ) -> None:
        super().__init__(criticality=criticality, deadline=deadline)
        self.payload = payload
        self.job_class = job_class
        self.key = key
        self.state = JobState.NEW
        self.worker: Hashable | None = None
        self.why = ""
        self.waiter: object = None

    def __repr__(self) -> str:
        return f"Job({self.job_class.value}, {self.state.value}, worker={self.worker!r}, why={self.why!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueLimits:
    """One class queue's bounds: at most ``capacity`` jobs, each waiting at most ``max_wait`` s."""

    capacity: int = 64
    max_wait: float = 1.0

    def __post_init__(self) -> None:
        if self.capacity < 0 or not self.max_wait > 0:
            raise ValueError(f"QueueLimits: need capacity ≥ 0 and max_wait > 0, got {self.capacity}, {self.max_wait}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClassQueueStatistics:
    """Per class: the primary alerts of Spillway (spec §7 rule 7)."""

    length: int
    oldest_age: float
    capacity: int
    rejected: int
    expired: int


QueueStatistics = ClassQueueStatistics  # the name before 0.2 (it clashed across the public API); kept as an alias


class Broker:
    """Class queues and pulls over a :class:`Registry`.

    ``capacity`` bounds each class queue (HG default 64 each); ``max_wait`` is the longest a job
    waits (Netflix ``LifoBlockingLimiter``'s backlog timeout, 1 s) unless its deadline is sooner.
    ``limits`` sets them per class instead; ``pull_order`` is the order free workers take from
    the queues (HG: critical, interactive, batch).
    """

    def __init__(
        self,
        registry: Registry,
        *,
        capacity: int = 64,
        max_wait: float = 1.0,
        limits: Mapping[JobClass, QueueLimits] | None = None,
        pull_order: Sequence[JobClass] = PULL_ORDER,
    ) -> None:
        if capacity < 0 or not max_wait > 0:
            raise ValueError(f"Broker: need capacity ≥ 0 and max_wait > 0, got {capacity}, {max_wait}")
        self.registry = registry
        self._queues: dict[JobClass, WaitQueue[Job]] = {
            c: WaitQueue(capacity=capacity, capacity_ratio=None, order=_ORDER[c]) for c in JobClass
        }
        self.limits: dict[JobClass, QueueLimits] = {}
        self.pull_order: tuple[JobClass, ...] = PULL_ORDER
        self.configure(
            limits={c: (limits or {}).get(c, QueueLimits(capacity=capacity, max_wait=max_wait)) for c in JobClass},
            pull_order=pull_order,
        )

    def configure(self, *, limits: Mapping[JobClass, QueueLimits], pull_order: Sequence[JobClass]) -> None:
        """New bounds and pull order, keeping every queued job (a reload); a queue made shorter
        than it is keeps its jobs and takes new ones once it is under the new bound."""
        if sorted(c.value for c in pull_order) != sorted(c.value for c in JobClass):
            raise ValueError(f"Broker: pull_order must name each class once, got {[c.value for c in pull_order]}")
        for c, queue in self._queues.items():
            lim = limits.get(c, self.limits.get(c, QueueLimits()))
            queue.capacity, queue.standing_timeout, queue.idle_timeout = lim.capacity, lim.max_wait, lim.max_wait
            self.limits[c] = lim
        self.pull_order = tuple(pull_order)

    @property
    def capacity(self) -> int:
        return self.limits[JobClass.INTERACTIVE].capacity

    @property
    def max_wait(self) -> float:
        return self.limits[JobClass.INTERACTIVE].max_wait

    def offers(self, job: Job, now: float) -> list[Hashable]:
        """Workers to offer ``job`` to, in order (at most ``registry.max_offers``)."""
        return self.registry.candidates(now=now, key=job.key)

    def refused(self, job: Job, worker: Hashable, now: float) -> None:
        self.registry.refused(worker, now=now)

    def accepted(self, job: Job, worker: Hashable) -> None:
        job.state = JobState.ASSIGNED
        job.worker = worker

    def enqueue(self, job: Job, now: float) -> tuple[bool, list[Job]]:
        """Queue ``job`` after every offer was refused. Returns whether it waits (else ``job.why``
        says why not) and the jobs the queue rejected on the way (expired, or evicted by it)."""
        if now >= job.deadline:
            job.state, job.why = JobState.REJECTED, "deadline"
            return False, []
        removed = self._rejected(self._queues[job.job_class].push(job, now))
        if job.state is JobState.REJECTED:
            removed.remove(job)
            return False, removed
        job.state = JobState.QUEUED
        return True, removed

    def cancel(self, job: Job, now: float) -> None:
        if job.state is JobState.QUEUED and self._queues[job.job_class].remove(job, now):
            job.state = JobState.CANCELLED

    def pull(self, worker: Hashable, now: float) -> tuple[Job | None, list[Job]]:
        """The next job for a free ``worker`` (or None), and the jobs expired on the way."""
        removed: list[Job] = []
        for job_class in self.pull_order:
            job, gone = self._queues[job_class].pop(now)
            removed += self._rejected(gone)
            if job is not None:
                self.accepted(job, worker)
                return job, removed
        return None, removed

    def expire(self, now: float) -> list[Job]:
        """Reject queued jobs past their queue timeout or deadline (``expired`` / ``deadline``)."""
        removed: list[Job] = []
        for queue in self._queues.values():
            removed += self._rejected(queue.expire(now))
        return removed

    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def next_expiry(self, now: float) -> float | None:
        """When the earliest queued job times out, or None with nothing queued."""
        times = [t for q in self._queues.values() if (t := q.next_expiry(now)) is not None]
        return min(times) if times else None

    def drain(self, now: float) -> list[Job]:
        """Every queued job, taken out and rejected as ``draining`` (the broker is stopping)."""
        out: list[Job] = []
        for queue in self._queues.values():
            while True:
                job, gone = queue.pop(now)
                out += self._rejected(gone)
                if job is None:
                    break
                job.state, job.why = JobState.REJECTED, "draining"
                out.append(job)
        return out

    def statistics(self, now: float) -> dict[JobClass, QueueStatistics]:
        out = {}
        for c, q in self._queues.items():
            st = q.statistics(now)
            out[c] = QueueStatistics(
                length=st.length,
                oldest_age=st.oldest_age,
                capacity=self.limits[c].capacity,
                rejected=st.rejected + st.evicted,
                expired=st.expired + st.deadline,
            )
        return out

    @staticmethod
    def _rejected(jobs: list[Job]) -> list[Job]:
        for job in jobs:
            job.state = JobState.REJECTED
            job.why = job.reason.value if job.reason is not None else "expired"
        return jobs
