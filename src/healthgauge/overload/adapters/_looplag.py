"""Event-loop lag: in asyncio, waiting for the loop is waiting for a core (spec §1.1, §9).

A timer asks to wake every ``interval`` seconds (10 ms) and records how late it woke. The latest
lag is added to each request's queueing delay at handler start, so a saturated loop shows up as
queueing even when healthgauge's own queue is empty; every sample also goes to ``on_sample``
(the guard hands it to the controller with the handlers' busy time, ``observe_loop``). Ten
samples per 100 ms interval let the detector take their minimum: a *standing* delay, not one
unlucky wake-up.

What a request's admission reads is :meth:`LoopLagProbe.current`: how overdue the probe is, or its
last sample. After a sample more than an interval late, the probe marks when the loop has caught
up with it (issue #11, eighth round): from then on whatever waits arrived after the sample, and
``current`` is the time since it, not the sample (after each long iteration of a shed loop the
guard refused everything for up to one interval on the sample that described it, 23-41 % of its
refusals, while the loop idled: 65-95 % of a core). Caught up means two more iterations ended:
asyncio runs an iteration's handlers (queued by the last one's reads), then its reads, then its
timers (the probe). A request that arrived on an idle connection during the long iteration is
read in the next one and started in the one after, having waited through it; what is read after
that arrived after the sample. A timer due at once runs at the end of the next iteration, after
its reads: the mark is two of them in a row.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["LoopLagProbe", "LoopLagStatistics"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LoopLagStatistics:
    """``latest`` and ``max_recent`` (the largest of the last ``window`` samples) in seconds."""

    interval: float
    latest: float
    max_recent: float
    samples: int
    running: bool


class LoopLagProbe:
    """A self-rescheduling ``loop.call_at`` timer (a callback, not a task: cheaper, and it cannot
    be cancelled half-way). Start it on the running loop; stop it at shutdown.

    ``interval`` defaults to 10 ms (spec §9 said 50 ms; issue #11: ten samples per detector
    interval): 100 callbacks a second, ~0.02 % of a core.
    """

    __slots__ = (
        "_caught_up",
        "_due",
        "_handle",
        "_loop",
        "_recent",
        "_sampled_at",
        "interval",
        "latest",
        "on_sample",
        "samples",
        "window",
    )

    def __init__(
        self, *, interval: float = 0.01, window: int = 20, on_sample: Callable[[float], None] | None = None
    ) -> None:
        if not interval > 0 or window < 1:
            raise ValueError(f"LoopLagProbe: need interval > 0 and window ≥ 1, got {interval}, {window}")
        self.interval = interval
        self.window = window
        self.on_sample = on_sample
        self.latest = 0.0
        self.samples = 0
        self._recent: list[float] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._sampled_at = 0.0  # when the last late sample was taken
        self._caught_up = False  # the loop has run what was queued behind it since

    def start(self) -> None:
        """Start on the running loop (idempotent)."""
        if self._handle is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        assert self._loop is not None
        # time.monotonic, not loop.time(): uvloop's loop time is cached per iteration in whole
        # milliseconds, and the guard compares with its controller's (monotonic) clock.
        self._due = time.monotonic() + self.interval
        self._handle = self._loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        # Timers may run up to one clock resolution early: never report a negative lag.
        now = time.monotonic()
        lag = max(0.0, now - self._due)
        self.record(lag)
        self._caught_up = False
        if lag > self.interval:  # late: mark when the loop has caught up (module docstring)
            self._sampled_at = now
            self._loop.call_later(0, self._catch_up, self.samples, 2)
        self._schedule()

    def _catch_up(self, sample: int, iterations: int) -> None:
        if sample != self.samples or self._loop is None or self._handle is None:
            return  # a later sample came first, or the probe was stopped
        if iterations > 1:
            self._loop.call_later(0, self._catch_up, sample, iterations - 1)
        else:
            self._caught_up = True

    def current(self, now: float) -> float:
        """The lag as of ``now`` (monotonic): how overdue the probe is, when it is; else the
        latest sample, or, once the loop has caught up with a late one, the time since it (module
        docstring). A loop deep in a backlog shows it here before the probe can run."""
        overdue = now - self._due
        if self._handle is None:
            return self.latest
        if overdue > self.latest:
            return overdue
        return max(overdue, now - self._sampled_at) if self._caught_up else self.latest

    def record(self, lag: float) -> None:
        """Record one sample (the timer's own path; public so tests and other loops can feed it)."""
        self.latest = lag
        self.samples += 1
        recent = self._recent
        recent.append(lag)
        if len(recent) > self.window:
            del recent[0]
        if self.on_sample is not None:
            self.on_sample(lag)

    def statistics(self) -> LoopLagStatistics:
        return LoopLagStatistics(
            interval=self.interval,
            latest=self.latest,
            max_recent=max(self._recent, default=0.0),
            samples=self.samples,
            running=self._handle is not None,
        )
