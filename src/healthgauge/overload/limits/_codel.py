"""Queue-delay detectors: CoDel in its network form (RFC 8289), folly's service form, and the
windowed minimum the admission controller reports as its load.

The three differ in what they do once the minimum delay over an interval exceeds the target:

- ``CodelDetector`` (RFC 8289) enters a dropping state and drops at ``interval / sqrt(count)``
  spacing; provided for completeness (spec §2.1), services should prefer the other two;
- ``FollyCodel`` (facebook/folly ``folly/executors/Codel.cpp``) decides on the *previous*
  interval's minimum and then sloughs any request that waited longer than ``2 × target`` (§2.2);
- ``DelayWindow`` only measures: the last closed interval's minimum, which the controller turns into
  the 0–100 load figure (§10.1) and its ``overloaded`` flag.

All take time as an argument (or read an injected clock); none sleeps or reads the wall clock.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from healthgauge.overload._types import Clock
from healthgauge.overload.limits._limit import require

INF = math.inf


def _check_timing(target: float, interval: float) -> None:
    require(target > 0, f"target must be > 0 s, got {target!r}")
    require(interval > 0, f"interval must be > 0 s, got {interval!r}")
    require(interval > target, f"interval ({interval!r} s) must be > target ({target!r} s)")


@dataclass(frozen=True, slots=True, kw_only=True)
class DetectorStatistics:
    """A detector's snapshot: the minimum delay it judges on (seconds), its verdict, the 0–100 load
    and how many items it told the caller to drop."""

    kind: str
    min_delay: float
    overloaded: bool
    load: int
    decisions: int
    drops: int


def delay_load(min_delay: float, target: float) -> int:
    """folly's ``getLoad``: ``min(100, 100 × min_delay / (2 × target))``, as an integer 0–100.

    A minimum delay of twice the target is full load; it maps directly onto an agent-check weight
    (spec §10.1). Rounded to the nearest integer (7 ms at a 5 ms target is 70).
    """
    if min_delay <= 0:
        return 0
    return min(100, round(100.0 * min_delay / (2.0 * target)))


class CodelDetector:
    """RFC 8289 CoDel at dequeue: ``on_dequeue(now, sojourn)`` returns True to drop that item.

    Above ``target`` for a whole ``interval`` enters the dropping state; drops then come at
    ``interval / sqrt(count)`` spacing until a sojourn falls below target. Re-entering soon after
    leaving resumes from the previous drop count (RFC 8289 §5.5), so a persistent queue is drained
    faster the second time.
    """

    __slots__ = (
        "_count",
        "_decisions",
        "_drop_next",
        "_dropping",
        "_drops",
        "_first_above",
        "_last_count",
        "_last_sojourn",
        "interval",
        "target",
    )

    kind = "codel"

    def __init__(self, *, target: float = 0.005, interval: float = 0.1) -> None:
        _check_timing(target, interval)
        self.target = float(target)
        self.interval = float(interval)
        self._first_above: float | None = None
        self._dropping = False
        self._drop_next = 0.0
        self._count = 0
        self._last_count = 0
        self._decisions = 0
        self._drops = 0
        self._last_sojourn = 0.0

    @property
    def dropping(self) -> bool:
        return self._dropping

    @property
    def count(self) -> int:
        """Drops in the current (or last) dropping state: the control law's ``count``."""
        return self._count

    def on_dequeue(self, now: float, sojourn: float) -> bool:
        """Judge one dequeued item that spent ``sojourn`` seconds queued; True means drop it.

        The caller dequeues the next item and asks again after a drop, as RFC 8289's dequeue loop does.
        """
        self._decisions += 1
        self._last_sojourn = sojourn
        ok_to_drop = self._ok_to_drop(now, sojourn)
        if self._dropping:
            if not ok_to_drop:
                self._dropping = False
                return False
            if now >= self._drop_next:
                self._count += 1
                self._drop_next = self._control_law(self._drop_next)
                self._drops += 1
                return True
            return False
        if not ok_to_drop:
            return False
        self._dropping = True
        delta = self._count - self._last_count
        recent = now - self._drop_next < 16 * self.interval
        self._count = delta if delta > 1 and recent else 1
        self._drop_next = self._control_law(now)
        self._last_count = self._count
        self._drops += 1
        return True

    def _ok_to_drop(self, now: float, sojourn: float) -> bool:
        if sojourn < self.target:
            self._first_above = None
            return False
        if self._first_above is None:
            self._first_above = now + self.interval
            return False
        return now >= self._first_above

    def _control_law(self, t: float) -> float:
        return t + self.interval / math.sqrt(self._count)

    def statistics(self) -> DetectorStatistics:
        return DetectorStatistics(
            kind=self.kind,
            min_delay=self._last_sojourn,
            overloaded=self._dropping,
            load=delay_load(self._last_sojourn, self.target),
            decisions=self._decisions,
            drops=self._drops,
        )


class FollyCodel:
    """folly's service CoDel: ``overloaded(delay)`` returns True to shed (slough) that request.

    Follows ``folly/executors/Codel.cpp``: at the first call after an interval ends, the server is
    marked overloaded if the *previous* interval's minimum delay exceeded the target; the first
    request of every interval is always served; while overloaded, requests that waited longer than
    ``slough_timeout`` (default ``2 × target``) are shed. It never bounds admission: combine it with
    an in-flight limit and a queue cap (spec §2.2, "known weaknesses"), and never let it drive
    adaptive LIFO, since LIFO drives its minimum to ≈ 0 (§3 rule 5).
    """

    __slots__ = (
        "_clock",
        "_decisions",
        "_drops",
        "_interval_end",
        "_min_delay",
        "_overloaded",
        "_reset",
        "interval",
        "slough_timeout",
        "target",
    )

    kind = "folly_codel"

    def __init__(
        self,
        *,
        target: float = 0.005,
        interval: float = 0.1,
        slough_timeout: float | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        _check_timing(target, interval)
        slough = 2.0 * target if slough_timeout is None else float(slough_timeout)
        require(slough > 0, f"slough_timeout must be > 0 s, got {slough_timeout!r}")
        self.target = float(target)
        self.interval = float(interval)
        self.slough_timeout = slough
        self._clock = clock
        self._reset = True
        self._min_delay = 0.0
        self._overloaded = False
        self._interval_end = clock()
        self._decisions = 0
        self._drops = 0

    @property
    def is_overloaded(self) -> bool:
        """The verdict of the last interval boundary (the previous interval's minimum > target)."""
        return self._overloaded

    @property
    def min_delay(self) -> float:
        """The running minimum delay of the current interval, in seconds."""
        return self._min_delay

    def overloaded(self, delay: float, now: float | None = None) -> bool:
        """Feed one request's queueing delay at dequeue; True means shed it (spec §2.2 steps 1-4)."""
        if now is None:
            now = self._clock()
        self._decisions += 1
        if now > self._interval_end and not self._reset:
            self._reset = True
            self._interval_end = now + self.interval
            self._overloaded = self._min_delay > self.target
        if self._reset:
            self._reset = False
            self._min_delay = delay
            return False
        if delay < self._min_delay:
            self._min_delay = delay
        shed = self._overloaded and delay > self.slough_timeout
        if shed:
            self._drops += 1
        return shed

    def load(self) -> int:
        """folly's ``getLoad``: 0 = no queueing delay, 100 = at twice the target (spec §2.2)."""
        return delay_load(self._min_delay, self.target)

    def statistics(self) -> DetectorStatistics:
        return DetectorStatistics(
            kind=self.kind,
            min_delay=self._min_delay,
            overloaded=self._overloaded,
            load=self.load(),
            decisions=self._decisions,
            drops=self._drops,
        )


class DelayWindow:
    """The minimum queueing delay per interval, as a measurement only.

    ``add(now, delay)`` at each handler start; ``closed_min`` is the last *closed* interval's
    minimum (the current one is partial). An interval with no start at all for a whole interval
    afterwards is stale and reads as no delay: an idle server has no queue.

    ``end`` (when the current interval closes) and ``partial_min`` (its minimum so far) are public
    to read: ``add(now, delay)`` with ``now < end`` and ``delay ≥ partial_min`` changes nothing,
    and a hot path may skip the call (``AdmissionController.enter``).
    """

    __slots__ = ("_closed_at", "closed_min", "end", "interval", "partial_min", "target")

    def __init__(self, *, target: float = 0.005, interval: float = 0.1) -> None:
        _check_timing(target, interval)
        self.target = float(target)
        self.interval = float(interval)
        self.partial_min = INF
        self.end = -INF
        self._closed_at = -INF
        self.closed_min = 0.0

    def add(self, now: float, delay: float) -> None:
        if now < self.end:
            if delay < self.partial_min:
                self.partial_min = delay
            return
        stale = now >= self.end + self.interval
        self.closed_min = delay if stale else min(self.partial_min, delay)
        self._closed_at = now
        self.partial_min = INF
        self.end = now + self.interval

    def current(self, now: float) -> float:
        """The last closed minimum, or 0 when nothing started for two intervals."""
        if now - self._closed_at >= 2 * self.interval:
            return 0.0
        return self.closed_min

    def overloaded(self, now: float) -> bool:
        return self.current(now) > self.target
