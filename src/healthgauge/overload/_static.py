"""A static in-flight limit with a bounded, priority-ordered wait queue: the simplest
:class:`~healthgauge.overload.AdmissionCore`, and spec §11.5's "static in-flight 16" baseline.

Pure (time passed in). The adaptive controllers of the overload core implement the same contract;
this one is what the adapters are exercised against, and what a service uses when its right
concurrency is known and fixed.

* admit while ``in_flight < limit`` (spec §5.2 rule 3);
* otherwise queue, at most ``queue`` entries; when full, an arrival that outranks the
  lowest-priority entry evicts it (reason ``priority``, rule 4), else it is rejected ``queue_full``;
* a freed slot goes to the highest priority, oldest first within a level (FIFO: a static limit
  has no standing-queue detector to switch to LIFO with);
* active expiry: an entry is rejected ``expired`` after ``max_wait`` (Fail at Scale's N = 100 ms)
  or ``deadline`` once its deadline has passed (spec §3 rules 2-3);
* ``load`` is folly's ``getLoad`` over the last complete window of queueing delays:
  ``min(100, 100 × min_delay / (2 × target))`` (spec §2.2, §10.1).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from healthgauge.overload._contract import Outcome, State, Ticket

__all__ = ["StaticLimit", "StaticLimitStatistics"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StaticLimitStatistics:
    limit: int
    in_flight: int
    queued: int
    admitted: int
    rejected: dict[str, int]
    would_reject: dict[str, int]
    completed: dict[str, int]
    window_min_delay: float


class StaticLimit:
    """A fixed limit and queue (see the module docstring). ``monitor_only`` grants everything and
    counts in :attr:`would_reject` what it would have refused."""

    def __init__(
        self,
        *,
        limit: int = 16,
        queue: int | None = None,
        max_wait: float = 0.1,
        target: float = 0.005,
        interval: float = 0.1,
        monitor_only: bool = False,
    ) -> None:
        if limit < 1:
            raise ValueError(f"StaticLimit: limit must be ≥ 1, got {limit}")
        if queue is not None and queue < 0:
            raise ValueError(f"StaticLimit: queue must be ≥ 0, got {queue}")
        if not (max_wait > 0 and target > 0 and interval > target):
            raise ValueError(
                f"StaticLimit: need max_wait > 0 and 0 < target < interval, got {max_wait}, {target}, {interval}"
            )
        self._limit = limit
        self.capacity = max(1, math.ceil(0.5 * limit)) if queue is None else queue
        self.max_wait, self.target, self.interval = max_wait, target, interval
        self.monitor_only = monitor_only
        self._n = 0
        self._levels: dict[int, deque[Ticket]] = {}
        self._queued = 0
        self._settled: list[Ticket] = []
        self.admitted = 0
        self.rejected: dict[str, int] = {}
        self.would_reject: dict[str, int] = {}
        self.completed = {o.value: 0 for o in Outcome}
        self._win_end = -math.inf
        self._win_min = math.inf
        self._last_min = 0.0

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._n

    def queue_length(self) -> int:
        return self._queued

    # -- admission ------------------------------------------------------------------------------

    def acquire(self, ticket: Ticket, now: float) -> None:
        if self._queued:
            self.expire(now)
        if self._n < self._limit:
            self._grant(ticket, now)
        elif self.monitor_only:
            self._count(self.would_reject, "limit")
            self._grant(ticket, now)
        elif self._queued < self.capacity:
            self._enqueue(ticket, now)
        else:
            victim = self._lowest_below(ticket.priority)
            if victim is None:
                self._reject(ticket, "queue_full")
            else:
                self._remove(victim)
                self._reject(victim, "priority")
                self._settled.append(victim)
                self._enqueue(ticket, now)

    def cancel(self, ticket: Ticket, now: float) -> None:
        if ticket.state is State.WAITING:
            self._remove(ticket)
            ticket.state = State.CANCELLED

    def begin(self, ticket: Ticket, now: float, delay: float) -> None:
        if now >= self._win_end:
            # A window with no handler start in it (a gap in traffic) had no queueing: load 0.
            stale = now >= self._win_end + self.interval or self._win_min == math.inf
            self._last_min = 0.0 if stale else self._win_min
            self._win_min = math.inf
            self._win_end = now + self.interval
        self._win_min = min(self._win_min, delay)

    def complete(self, ticket: Ticket, outcome: Outcome, now: float) -> None:
        if ticket.state is not State.GRANTED:
            raise ValueError(f"complete() on a ticket that holds no permit: {ticket!r}")
        ticket.state = State.DONE
        self.completed[outcome.value] += 1
        self._n -= 1
        self._grant_waiters(now)

    def expire(self, now: float) -> None:
        for level in self._levels.values():
            for ticket in list(level):  # oldest first within each level
                if now >= ticket.deadline:
                    reason = "deadline"
                elif now - ticket.enqueued > self.max_wait:
                    reason = "expired"
                else:
                    continue
                level.remove(ticket)
                self._queued -= 1
                self._reject(ticket, reason)
                self._settled.append(ticket)

    def settled(self) -> list[Ticket]:
        out, self._settled = self._settled, []
        return out

    # -- reporting ------------------------------------------------------------------------------

    def load(self, now: float) -> float:
        if now >= self._win_end + self.interval:
            return 0.0  # no request started for a whole window: nothing is queueing
        return min(100.0, 100.0 * self._last_min / (2 * self.target))

    def oldest_age(self, now: float) -> float:
        return max((now - level[0].enqueued for level in self._levels.values() if level), default=0.0)

    def statistics(self) -> StaticLimitStatistics:
        return StaticLimitStatistics(
            limit=self._limit,
            in_flight=self._n,
            queued=self._queued,
            admitted=self.admitted,
            rejected=dict(self.rejected),
            would_reject=dict(self.would_reject),
            completed=dict(self.completed),
            window_min_delay=self._last_min,
        )

    # -- internals ------------------------------------------------------------------------------

    @staticmethod
    def _count(table: dict[str, int], reason: str) -> None:
        table[reason] = table.get(reason, 0) + 1

    def _grant(self, ticket: Ticket, now: float) -> None:
        self._n += 1
        self.admitted += 1
        ticket.state = State.GRANTED
        ticket.granted = now
        ticket.in_flight_at_grant = self._n

    def _reject(self, ticket: Ticket, reason: str) -> None:
        ticket.state = State.REJECTED
        ticket.reason = reason
        ticket.retry_after = 1.0
        self._count(self.rejected, reason)

    def _enqueue(self, ticket: Ticket, now: float) -> None:
        ticket.state = State.WAITING
        ticket.enqueued = now
        self._levels.setdefault(ticket.priority, deque()).append(ticket)
        self._queued += 1

    def _remove(self, ticket: Ticket) -> None:
        self._levels[ticket.priority].remove(ticket)
        self._queued -= 1

    def _lowest_below(self, priority: int) -> Ticket | None:
        for level in sorted(self._levels):
            if level >= priority:
                return None
            if self._levels[level]:
                return self._levels[level][0]
        return None

    def _grant_waiters(self, now: float) -> None:
        if not self._queued:
            return
        self.expire(now)
        for level in sorted(self._levels, reverse=True):
            queue = self._levels[level]
            while queue and self._n < self._limit:
                ticket = queue.popleft()
                self._queued -= 1
                self._grant(ticket, now)
                self._settled.append(ticket)
