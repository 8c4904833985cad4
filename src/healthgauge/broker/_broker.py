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
from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

from healthgauge.broker._registry import Registry
from healthgauge.overload._queue import QueueEntry, QueueOrder, WaitQueue
from healthgauge.overload._types import Criticality

__all__ = [
    "CLASS_NAMES",
    "Broker",
    "ClassQueueStatistics",
    "Job",
    "JobClass",
    "JobState",
    "QueueLimits",
    "QueueStatistics",
]


class JobClass(enum.Enum):
    CRITICAL = "critical"  # priority queue
    INTERACTIVE = "interactive"  # LIFO
    BATCH = "batch"  # FIFO

    # Members are singletons: hash by identity, in C (Enum's own __hash__ is Python code, and a
    # class is a dict key several times per request on the broker's hot path).
    __hash__ = object.__hash__


# Each class's name, read on the hot path (an Enum's ``.value`` is a Python-level descriptor).
CLASS_NAMES = {c: c.value for c in JobClass}


class JobState(enum.Enum):
    NEW = "new"
    HELD = "held"  # waiting a moment for its home worker (affinity_wait) before going elsewhere
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

    __slots__ = ("held_until", "home", "job_class", "key", "payload", "state", "waiter", "why", "worker")

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
        self.home: Hashable | None = None  # the worker its key belongs to, if it has one
        self.held_until = 0.0
        self.why = ""
        self.waiter: object = None

    def __repr__(self) -> str:
        return f"Job({self.job_class.value}, {self.state.value}, worker={self.worker!r}, why={self.why!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueLimits:
    """One class queue's bounds: at most ``capacity`` jobs, each waiting at most ``max_wait`` s."""

    capacity: int = 64
    max_wait: float = 1.0
    # The most of one worker's slots this class may hold at once (at least one): a class of long
    # requests below 1 leaves the rest to the others, so they never wait behind it for a slot.
    max_share: float = 1.0

    def __post_init__(self) -> None:
        if self.capacity < 0 or not self.max_wait > 0 or not 0 < self.max_share <= 1:
            raise ValueError(
                "QueueLimits: need capacity ≥ 0, max_wait > 0 and 0 < max_share ≤ 1, "
                f"got {self.capacity}, {self.max_wait}, {self.max_share}"
            )


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
        affinity_wait: float = 0.0,
    ) -> None:
        if capacity < 0 or not max_wait > 0:
            raise ValueError(f"Broker: need capacity ≥ 0 and max_wait > 0, got {capacity}, {max_wait}")
        self.registry = registry
        self.affinity_wait = affinity_wait
        # Jobs held for their home worker, by home, oldest first (cancelled ones skipped lazily).
        self._held: dict[Hashable, deque[Job]] = {}
        self._holding = 0
        self._queues: dict[JobClass, WaitQueue[Job]] = {
            c: WaitQueue(capacity=capacity, capacity_ratio=None, order=_ORDER[c]) for c in JobClass
        }
        self.limits: dict[JobClass, QueueLimits] = {}
        # Queued jobs by home worker, oldest first (entries that left the queue are skipped lazily).
        self._homed: dict[Hashable, deque[Job]] = {}
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
        share = self.limits[job.job_class].max_share
        return self.registry.candidates(now=now, key=job.key, klass=job.job_class, share=share)

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
        if job.home is not None:
            homed = self._homed.get(job.home)
            if homed is None:
                homed = self._homed[job.home] = deque()
            elif len(homed) > 2 * sum(lim.capacity for lim in self.limits.values()):
                homed = self._homed[job.home] = deque(j for j in homed if j.state is JobState.QUEUED)
            homed.append(job)
        return True, removed

    def cancel(self, job: Job, now: float) -> None:
        if job.state is JobState.HELD:
            job.state = JobState.CANCELLED
            self._holding -= 1
        elif job.state is JobState.QUEUED and self._queues[job.job_class].remove(job, now):
            job.state = JobState.CANCELLED

    def hold(self, job: Job, now: float) -> bool:
        """Keep ``job`` for its home worker, which is busy, for up to ``affinity_wait`` seconds:
        the home takes it first when it frees (:meth:`pull`), else :meth:`release` hands it back
        to be offered elsewhere. False when holding is off, the job has no home, or the home
        already holds as many jobs as it has slots (a longer line is better served elsewhere)."""
        home = job.home
        if not self.affinity_wait > 0 or home is None:
            return False
        held = self._held.get(home)
        if held is None:
            held = self._held[home] = deque()
        while held and held[0].state is not JobState.HELD:
            held.popleft()
        if len(held) >= max(1, self.registry.cap(home)):
            return False
        job.state, job.held_until = JobState.HELD, now + self.affinity_wait
        held.append(job)
        self._holding += 1
        return True

    def release(self, now: float) -> list[Job]:
        """Held jobs whose wait for their home ran out (state NEW again: offer them elsewhere)."""
        out: list[Job] = []
        if not self._holding:
            return out
        for held in self._held.values():
            while held and (held[0].state is not JobState.HELD or held[0].held_until <= now):
                job = held.popleft()
                if job.state is JobState.HELD:
                    job.state = JobState.NEW
                    self._holding -= 1
                    out.append(job)
        return out

    def _take_held(self, worker: Hashable, job_class: JobClass, now: float) -> Job | None:
        """The oldest job of ``job_class`` held for ``worker``, if it has room for that class."""
        held = self._held.get(worker)
        if not held:
            return None
        while held and held[0].state is not JobState.HELD:
            held.popleft()
        for job in held:
            if job.state is JobState.HELD and job.job_class is job_class:
                if not self.registry.has_room(worker, job_class, self.limits[job_class].max_share, now=now):
                    return None
                held.remove(job)
                self._holding -= 1
                return job
        return None

    def pull(self, worker: Hashable, now: float) -> tuple[Job | None, list[Job]]:
        """The next job for a free ``worker`` (or None), and the jobs expired on the way.

        Class by class in pull order; within a class a job held for ``worker`` goes first, then
        a queued one whose home is ``worker`` (newest for LIFO, oldest for FIFO), so a freed
        worker takes work whose data it has.
        """
        removed: list[Job] = []
        for job_class in self.pull_order:
            if self._holding and (held := self._take_held(worker, job_class, now)) is not None:
                self.accepted(held, worker)
                return held, removed
            queue = self._queues[job_class]
            if not len(queue):
                continue
            if not self.registry.has_room(worker, job_class, self.limits[job_class].max_share, now=now):
                continue
            # A homed job past its queue timeout may still be taken here: the tick expires the
            # queues every TICK and each request's deadline has its own timer.
            job = self._homed_job(worker, job_class, now)
            if job is None:
                job, gone = queue.pop(now)
                removed += self._rejected(gone)
            if job is not None:
                self.accepted(job, worker)
                return job, removed
        return None, removed

    def _homed_job(self, worker: Hashable, job_class: JobClass, now: float) -> Job | None:
        homed = self._homed.get(worker)
        if not homed:
            return None
        while homed and homed[0].state is not JobState.QUEUED:
            homed.popleft()
        while homed and homed[-1].state is not JobState.QUEUED:
            homed.pop()
        lifo = _ORDER[job_class] is QueueOrder.LIFO
        for job in reversed(homed) if lifo else homed:
            if job.state is JobState.QUEUED and job.job_class is job_class:
                homed.remove(job)
                self._queues[job_class].remove(job, now)
                return job
        return None

    def expire(self, now: float) -> list[Job]:
        """Reject queued jobs past their queue timeout or deadline (``expired`` / ``deadline``)."""
        removed: list[Job] = []
        for queue in self._queues.values():
            removed += self._rejected(queue.expire(now))
        return removed

    def queued(self) -> int:
        """Jobs waiting: in the class queues, or held for their home."""
        a, b, c = self._queues.values()
        return len(a) + len(b) + len(c) + self._holding

    def holding(self) -> int:
        return self._holding

    def fill(self) -> float:
        """The fullest queue's length over its capacity, 0-1."""
        fill = 0.0
        for c, lim in self.limits.items():
            if lim.capacity:
                fill = max(fill, len(self._queues[c]) / lim.capacity)
        return min(1.0, fill)

    def next_expiry(self, now: float) -> float | None:
        """When the earliest queued job times out, or None with nothing queued."""
        times = [t for q in self._queues.values() if (t := q.next_expiry(now)) is not None]
        return min(times) if times else None

    def drain(self, now: float) -> list[Job]:
        """Every queued job, taken out and rejected as ``draining`` (the broker is stopping)."""
        self._homed.clear()
        out: list[Job] = []
        for held in self._held.values():
            for waiting in held:
                if waiting.state is JobState.HELD:
                    waiting.state, waiting.why = JobState.REJECTED, "draining"
                    out.append(waiting)
            held.clear()
        self._holding = 0
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
