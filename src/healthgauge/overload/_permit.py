"""A permit to run one request, a queued request (waiter) and a partition's share: what the
admission controller hands out (spec §1.2, §3, §5). The controller (``_controller``) creates
them; they call back into it through the small ``_Host`` protocol, so this module does not import
the controller.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Protocol

from healthgauge.overload._queue import QueueEntry
from healthgauge.overload._types import Criticality, Outcome, Rejection
from healthgauge.overload.limits._limit import require

__all__ = ["Partition", "Permit", "Waiter", "partitions"]


class _Host(Protocol):
    """The controller as its permits and waiters see it."""

    def _start(self, permit: Permit, extra_delay: float, now: float | None = None) -> Rejection | None: ...

    def _finish(self, permit: Permit, dropped: bool | None, outcome: str) -> None: ...

    def _withdraw(self, waiter: Waiter) -> None: ...


class Permit:
    """The right to run one request. Complete it exactly once: ``success``, ``dropped`` or ``ignore``.

    ``inflight`` is the in-flight count including this permit at its grant (Netflix's ``inflight``);
    ``cost`` is what it counts against the limit (the ``Healthgauge-Cost`` header; default 1).
    """

    __slots__ = (
        "_controller",
        "_done",
        "cost",
        "criticality",
        "granted_at",
        "inflight",
        "partition",
        "received_at",
        "started_at",
    )

    def __init__(
        self,
        controller: _Host,
        received_at: float,
        granted_at: float,
        criticality: Criticality,
        partition: Partition | None,
        inflight: int,
        cost: float = 1.0,
        started_at: float | None = None,
    ) -> None:
        self._controller = controller
        self.cost = cost
        self.received_at = received_at
        self.granted_at = granted_at
        self.criticality = criticality
        self.partition = partition
        self.inflight = inflight
        self.started_at = started_at
        self._done = False

    @property
    def done(self) -> bool:
        return self._done

    def start(self, extra_delay: float = 0.0, *, now: float | None = None) -> Rejection | None:
        """The handler is about to run: feed the queueing delay (plus ``extra_delay``, e.g. the
        latest event-loop lag) to the detectors. A ``Rejection`` means: do not run it, answer 503;
        the permit is then already released. Calling it is optional, but without it the queue-delay
        detectors see nothing. ``now``: the controller clock's reading, when the caller has one."""
        return self._controller._start(self, extra_delay, now)

    def success(self) -> None:
        """The work was done (including a 5xx from the application): one RTT sample."""
        self._controller._finish(self, False, "success")

    def dropped(self) -> None:
        """Timed out, or a downstream call reported overload: one sample flagged dropped."""
        self._controller._finish(self, True, "dropped")

    def ignore(self) -> None:
        """Client gone or request bypassed: release without a sample."""
        self._controller._finish(self, None, "ignored")

    def complete(self, outcome: Outcome) -> None:
        if outcome is Outcome.SUCCESS:
            self.success()
        elif outcome is Outcome.DROPPED:
            self.dropped()
        else:
            self.ignore()


class Waiter(QueueEntry):
    """A queued request. Resolved later by the controller: ``permit`` set (granted) or
    ``rejection`` set (expired, deadline, evicted); ``cancel()`` withdraws it.

    ``add_done_callback(fn)`` runs ``fn(waiter)`` once when it is granted or rejected (at once if it
    already is), synchronously, from inside whichever controller call resolved it: an asyncio
    adapter resolves a future there and must not do more.
    """

    __slots__ = ("_callbacks", "_controller", "cancelled", "cost", "partition", "permit", "received_at", "rejection")

    def __init__(
        self,
        controller: _Host,
        *,
        criticality: Criticality,
        deadline: float,
        max_wait: float | None,
        received_at: float,
        partition: Partition | None,
        cost: float = 1.0,
    ) -> None:
        super().__init__(criticality=criticality, deadline=deadline, max_wait=max_wait)
        self._controller = controller
        self.cost = cost
        self.received_at = received_at
        self.partition = partition
        self.permit: Permit | None = None
        self.rejection: Rejection | None = None
        self.cancelled = False
        self._callbacks: list[Callable[[Waiter], None]] = []

    @property
    def done(self) -> bool:
        return self.permit is not None or self.rejection is not None or self.cancelled

    def add_done_callback(self, callback: Callable[[Waiter], None]) -> None:
        if self.permit is not None or self.rejection is not None:
            callback(self)
        elif not self.cancelled:
            self._callbacks.append(callback)

    def cancel(self) -> None:
        """The client went away: leave the queue at once, or release a permit already granted
        (as ``ignore``). Callbacks do not run for a cancellation."""
        if self.cancelled:
            return
        self.cancelled = True
        self._callbacks.clear()
        if self.permit is not None and not self.permit.done:
            self.permit.ignore()
        elif self.queued:
            self._controller._withdraw(self)

    def _resolve(self) -> None:
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback(self)


class Partition:
    """A named share of the limit (Netflix ``AbstractPartitionedLimiter``)."""

    __slots__ = ("inflight", "name", "share")

    def __init__(self, name: str, share: float) -> None:
        self.name = name
        self.share = share
        self.inflight = 0

    def full(self, limit: float) -> bool:
        """At or above ``max(1, ceil(L × share))``."""
        return self.inflight >= max(1, math.ceil(limit * self.share))


def partitions(shares: Mapping[str, float] | None) -> dict[str, Partition]:
    if not shares:
        return {}
    for name, share in shares.items():
        require(0 < share <= 1, f"partition {name!r}: share must lie in (0, 1], got {share!r}")
    total = sum(shares.values())
    require(total <= 1 + 1e-9, f"partition shares must sum to ≤ 1, got {total!r}")
    return {name: Partition(name, share) for name, share in shares.items()}
