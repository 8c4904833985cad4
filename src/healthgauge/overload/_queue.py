"""The bounded wait queue: controlled delay, adaptive LIFO, active expiry, priority (spec §3, §5.2).

Sources: Ben Maurer, "Fail at Scale" (ACM Queue 2015) for controlled delay and adaptive LIFO;
Netflix concurrency-limits ``LifoBlockingLimiter``; the SRE book for small queues.

Rules implemented here (numbers are spec §3's):

1. Capacity: a fixed number, or ``max(1, ceil(ratio × L))`` from the limit the pusher passes
   (default ratio 0.5). A full queue rejects the arrival with ``queue_full`` unless it outranks the
   lowest level present: then the oldest entry of that level is evicted with ``priority`` (§5.2.4).
2. Each entry's timeout is ``min(deadline − now, M if standing else N)``, recomputed at every check.
   The queue is *standing* when it has not been empty for ``standing_after`` (N) seconds.
3. Active expiry: on every push and pop and on the host's tick, entries past their timeout or
   deadline are removed from the oldest end (``expired`` / ``deadline``). ``Expiry.AT_DEQUEUE`` and
   ``Expiry.NONE`` exist to reproduce the failure modes of §3 in the benchmark, not for production.
4. Service order: highest criticality first; within a level FIFO while not standing, LIFO while
   standing (``QueueOrder.ADAPTIVE_LIFO``). The standing test depends only on how long the queue has
   been non-empty, never on dequeue order (rule 5), so LIFO cannot switch itself off.
6. A cancelled entry leaves at once (``remove``).

Entries are ``QueueEntry`` objects (subclass it to carry a payload); removed entries come back to
the caller with ``reason`` set, so the caller can answer their owners.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from healthgauge.overload._types import NO_DEADLINE, Criticality, RejectReason
from healthgauge.overload.limits._limit import require

INF = math.inf
_LEVELS = len(Criticality)


class QueueOrder(enum.Enum):
    """Service order within one criticality level."""

    FIFO = "fifo"
    LIFO = "lifo"
    ADAPTIVE_LIFO = "adaptive_lifo"
    """FIFO normally, LIFO while the queue is standing (Fail at Scale)."""


class Expiry(enum.Enum):
    """When queue timeouts and deadlines are enforced."""

    ACTIVE = "active"
    """On push, pop and tick, scanning from the oldest end (spec §3 rule 3; mandatory with LIFO)."""
    AT_DEQUEUE = "at_dequeue"
    """Only the entry about to be served is checked (reproduces §3's stale pile-up under LIFO)."""
    NONE = "none"
    """Never: a plain bounded queue (the benchmark's static-queue baseline)."""


class QueueEntry:
    """One waiting request. ``reason`` is set when the queue removes it instead of serving it."""

    __slots__ = ("criticality", "deadline", "enqueued_at", "max_wait", "queued", "reason")

    def __init__(
        self,
        *,
        criticality: Criticality = Criticality.CRITICAL,
        deadline: float = NO_DEADLINE,
        max_wait: float | None = None,
    ) -> None:
        self.criticality = criticality
        self.deadline = deadline
        self.max_wait = max_wait
        """A per-entry queue timeout overriding controlled delay (sheddable_plus under overload)."""
        self.enqueued_at = 0.0
        self.queued = False
        self.reason: RejectReason | None = None


E = TypeVar("E", bound=QueueEntry)


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitQueueStatistics:
    """A wait queue's snapshot: length and capacity now, the oldest entry's age (s), whether it is
    standing, and counters of what went through it."""

    length: int
    capacity: float
    oldest_age: float
    standing: bool
    pushed: int
    served: int
    expired: int
    deadline: int
    evicted: int
    rejected: int
    cancelled: int


QueueStatistics = WaitQueueStatistics  # the name before 0.2 (it clashed across the public API); kept as an alias


class WaitQueue(Generic[E]):
    """A bounded queue of requests waiting for a resource (a permit, or a worker in the benchmark).

    Defaults are spec §3's: adaptive LIFO, active expiry, ``M = 5 ms`` while standing,
    ``N = 100 ms`` otherwise, capacity ``max(1, ceil(0.5 × L))``. ``capacity=None`` together with
    ``capacity_ratio=None`` is unbounded, for reproducing the anchors only.
    """

    __slots__ = (
        "_counts",
        "_disordered",
        "_last_deadline",
        "_last_empty",
        "_len",
        "_levels",
        "capacity",
        "capacity_ratio",
        "expiry",
        "idle_timeout",
        "order",
        "standing_after",
        "standing_timeout",
    )

    def __init__(
        self,
        *,
        capacity: int | None = None,
        capacity_ratio: float | None = 0.5,
        order: QueueOrder = QueueOrder.ADAPTIVE_LIFO,
        expiry: Expiry = Expiry.ACTIVE,
        standing_timeout: float | None = 0.005,
        idle_timeout: float | None = 0.1,
        standing_after: float = 0.1,
    ) -> None:
        require(capacity is None or capacity >= 0, f"capacity must be ≥ 0, got {capacity!r}")
        require(capacity_ratio is None or capacity_ratio > 0, f"capacity_ratio must be > 0, got {capacity_ratio!r}")
        for name, value in (("standing_timeout", standing_timeout), ("idle_timeout", idle_timeout)):
            require(value is None or value > 0, f"{name} must be > 0 s or None, got {value!r}")
        require(standing_after > 0, f"standing_after must be > 0 s, got {standing_after!r}")
        if order is not QueueOrder.FIFO:
            require(expiry is not Expiry.NONE, "a LIFO queue needs expiry (spec §3 rule 3): stale entries pile up")
        self.capacity = capacity
        self.capacity_ratio = capacity_ratio
        self.order = order
        self.expiry = expiry
        self.standing_timeout = standing_timeout
        self.idle_timeout = idle_timeout
        self.standing_after = standing_after
        self._levels: tuple[deque[E], ...] = tuple(deque() for _ in range(_LEVELS))
        # Expiry scans each level from its oldest end and stops at the first live entry, which is
        # exact while deadlines rise with enqueue order (one client deadline, as usual). A level
        # that got an earlier deadline, or a per-entry timeout, is "disordered" and scanned whole.
        self._last_deadline = [-INF] * _LEVELS
        self._disordered = [False] * _LEVELS
        self._len = 0
        self._last_empty = -INF
        self._counts = dict.fromkeys(("pushed", "served", "expired", "deadline", "evicted", "rejected", "cancelled"), 0)

    def __len__(self) -> int:
        return self._len

    def capacity_for(self, limit: float | None) -> float:
        """The capacity in force for an in-flight limit ``limit`` (unbounded: ``inf``)."""
        cap = INF if self.capacity is None else float(self.capacity)
        if self.capacity_ratio is not None and limit is not None and limit != INF:
            cap = min(cap, max(1.0, math.ceil(self.capacity_ratio * limit)))
        return cap

    def standing(self, now: float) -> bool:
        """Non-empty for longer than ``standing_after``: a standing queue, served LIFO (§3)."""
        return self._len > 0 and now - self._last_empty > self.standing_after

    def oldest_age(self, now: float) -> float:
        """Age of the oldest entry, in seconds (0 when empty)."""
        if not self._len:
            return 0.0
        oldest = min(level[0].enqueued_at for level in self._levels if level)
        return now - oldest

    def push(self, entry: E, now: float, limit: float | None = None) -> list[E]:
        """Enqueue ``entry`` at ``now``; ``limit`` is the current in-flight limit for the capacity.

        Returns the entries removed as a side effect, each with ``reason`` set: expired ones, one
        evicted by priority, or ``entry`` itself when it was rejected (``queue_full``).
        """
        removed = self.expire(now) if self.expiry is Expiry.ACTIVE else []
        if not self._len:
            self._last_empty = now
        if self._len >= self.capacity_for(limit) and not self._evict_for(entry, removed):
            entry.reason = RejectReason.QUEUE_FULL
            self._counts["rejected"] += 1
            removed.append(entry)
            return removed
        entry.enqueued_at = now
        entry.queued = True
        entry.reason = None
        level = entry.criticality
        if entry.deadline < self._last_deadline[level] or entry.max_wait is not None:
            self._disordered[level] = True
        self._last_deadline[level] = entry.deadline
        self._levels[level].append(entry)
        self._len += 1
        self._counts["pushed"] += 1
        return removed

    def _evict_for(self, entry: E, removed: list[E]) -> bool:
        """Make room for ``entry`` by evicting the oldest entry of a lower level, if any (§5.2.4)."""
        for level in range(min(entry.criticality, _LEVELS)):
            victims = self._levels[level]
            if victims:
                victim = victims.popleft()
                self._take(victim, RejectReason.PRIORITY, removed)
                self._counts["evicted"] += 1
                return True
        return False

    def pop(self, now: float) -> tuple[E | None, list[E]]:
        """The next entry to serve at ``now`` (or None) and the entries removed on the way."""
        removed = self.expire(now) if self.expiry is Expiry.ACTIVE else []
        if not self._len:
            return None, removed
        standing = self.standing(now)
        lifo = self.order is QueueOrder.LIFO or (self.order is QueueOrder.ADAPTIVE_LIFO and standing)
        check = self.expiry is not Expiry.NONE
        for level in reversed(self._levels):
            while level:
                entry = level.pop() if lifo else level.popleft()
                reason = self._expired(entry, now, standing) if check else None
                if reason is None:
                    self._served(entry, now)
                    return entry, removed
                self._take(entry, reason, removed)
                self._note_empty(now)
        return None, removed

    def _served(self, entry: E, now: float) -> None:
        entry.queued = False
        self._len -= 1
        self._counts["served"] += 1
        self._note_empty(now)

    def expire(self, now: float) -> list[E]:
        """Remove entries past their timeout or deadline, scanning from the oldest end (§3 rule 3)."""
        removed: list[E] = []
        if not self._len or self.expiry is Expiry.NONE:
            return removed
        standing = now - self._last_empty > self.standing_after
        wait = self.standing_timeout if standing else self.idle_timeout
        for index, level in enumerate(self._levels):
            # The head check is inlined: this runs on every push and pop of a busy queue.
            while level:
                head = level[0]
                limit = wait if head.max_wait is None else head.max_wait
                if now < head.deadline and (limit is None or now - head.enqueued_at <= limit):
                    break
                self._take(level.popleft(), self._expired(head, now, standing) or RejectReason.EXPIRED, removed)
            if self._disordered[index]:
                self._expire_disordered(index, now, standing, removed)
        if not self._len:
            self._last_empty = now
        return removed

    def _expire_disordered(self, index: int, now: float, standing: bool, removed: list[E]) -> None:
        level = self._levels[index]
        if not level:
            self._disordered[index] = False
            self._last_deadline[index] = -INF
            return
        if all(self._expired(entry, now, standing) is None for entry in level):
            return
        keep: list[E] = []
        for entry in level:
            reason = self._expired(entry, now, standing)
            if reason is None:
                keep.append(entry)
            else:
                self._take(entry, reason, removed)
        level.clear()
        level.extend(keep)

    def remove(self, entry: E, now: float) -> bool:
        """Take a cancelled entry out at once (§3 rule 6); False if it was not queued."""
        if not entry.queued:
            return False
        self._levels[entry.criticality].remove(entry)
        entry.queued = False
        self._len -= 1
        self._counts["cancelled"] += 1
        self._note_empty(now)
        return True

    def next_expiry(self, now: float) -> float | None:
        """The earliest time an entry will expire if nothing else happens, for an adapter's timer.

        Accounts for the queue turning standing (timeouts shrink from N to M). None when empty or
        when nothing can expire.
        """
        if not self._len or self.expiry is Expiry.NONE:
            return None
        standing = self.standing(now)
        turns_standing = self._last_empty + self.standing_after
        best = INF
        for level in self._levels:
            for entry in level:
                best = min(best, entry.deadline, self._timeout_at(entry, standing, turns_standing))
        return None if best == INF else max(best, now)

    def _timeout_at(self, entry: E, standing: bool, turns_standing: float) -> float:
        if entry.max_wait is not None:
            return entry.enqueued_at + entry.max_wait
        m, n = self.standing_timeout, self.idle_timeout
        if standing:
            return INF if m is None else entry.enqueued_at + m
        at = INF if n is None else entry.enqueued_at + n
        if m is not None:
            # Once standing, the timeout drops to M: expiry at max(turns standing, enqueued + M).
            at = min(at, max(turns_standing, entry.enqueued_at + m))
        return at

    def _expired(self, entry: E, now: float, standing: bool) -> RejectReason | None:
        if now >= entry.deadline:
            return RejectReason.DEADLINE
        wait = entry.max_wait
        if wait is None:
            wait = self.standing_timeout if standing else self.idle_timeout
        if wait is not None and now - entry.enqueued_at > wait:
            return RejectReason.EXPIRED
        return None

    def _take(self, entry: E, reason: RejectReason, removed: list[E]) -> None:
        entry.queued = False
        entry.reason = reason
        self._len -= 1
        if reason is RejectReason.DEADLINE:
            self._counts["deadline"] += 1
        elif reason is RejectReason.EXPIRED:
            self._counts["expired"] += 1
        removed.append(entry)

    def _note_empty(self, now: float) -> None:
        if not self._len:
            self._last_empty = now

    def statistics(self, now: float, limit: float | None = None) -> QueueStatistics:
        c = self._counts
        return QueueStatistics(
            length=self._len,
            capacity=self.capacity_for(limit),
            oldest_age=self.oldest_age(now),
            standing=self.standing(now),
            pushed=c["pushed"],
            served=c["served"],
            expired=c["expired"],
            deadline=c["deadline"],
            evicted=c["evicted"],
            rejected=c["rejected"],
            cancelled=c["cancelled"],
        )
