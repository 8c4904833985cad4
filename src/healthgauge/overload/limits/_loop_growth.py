"""The growth tests of ``LoopDelayLimit``: pure functions of loop-probe samples, and the two
windows it keeps besides them (the kernel's accept queue, work for clients already gone).

Issue #11 taught that a loop's delay tells an open loop above capacity from a closed one only by
its *shape*: a growing backlog rises sample after sample, iteration after iteration; a closed
loop steps up once to the batch its clients keep and stays there. Each test here reads samples
``(time, lag)`` in seconds and the thresholds the limit passes in (``rise``: the least rise that
counts, ``min_rise`` × the limit's target; ``slope``: the least growth per second of time, so
arrivals ≥ 1 + slope × what the loop visibly completes). They hold no state of the limit's state
machine (``_loop_delay``), which decides what they mean.
"""

from __future__ import annotations

import math
from collections import deque

INF = math.inf
# A growing accept queue is an open loop's when it grew in each of this many intervals in a row.
QUEUE_INTERVALS = 3

Sample = tuple[float, float]  # (time, lag) in seconds


def longer(before: Sample, after: Sample, rise: float, slope: float) -> bool:
    """``after`` is the next loop iteration's sample, and the iteration got longer: it came at
    least one iteration (``before``'s lag) later, and its lag exceeds ``before``'s by more than
    ``rise`` and ``slope`` × the time between them."""
    (t0, lag0), (t1, lag1) = before, after
    gap = t1 - t0
    if gap < lag0:
        return False  # several samples in one iteration's time: dense, the thirds judge them
    return lag1 - lag0 > max(rise, slope * gap)


def lengthening(last: deque[Sample], target: float, rise: float, slope: float) -> bool:
    """Three loop iterations in a row each longer than the last, all late: the excess enters
    the loop every iteration (an open loop above capacity on asyncio, whose loop reads every
    readable socket each iteration: at 2× the probe saw 43, 96, 140, 271 ms, one sample per
    iteration, where the thirds of ``enter_time`` found a third without a sample and waited
    5 s). A closed loop steps up once, to the batch its clients keep, and stays there."""
    if len(last) < 4:
        return False
    a, b, c, d = last
    return b[1] > target and longer(a, b, rise, slope) and longer(b, c, rise, slope) and longer(c, d, rise, slope)


def rising(run: deque[Sample], rise: float, slope: float) -> bool:
    """The loop's delay grew across ``run``: split in thirds (by time), the smallest sample of
    each third exceeds the previous third's by more than ``rise`` and by ``slope`` × the third's
    length. A growing backlog rises throughout; the ramp of connections opening ends early, and
    spikes (preemption, a long step) only ever raise a minimum."""
    if len(run) < 3:
        return False
    start = run[0][0]
    third = (run[-1][0] - start) / 3
    lows = [INF, INF, INF]
    for t, lag in run:
        part = min(2, int((t - start) / third)) if third > 0 else 0
        lows[part] = min(lows[part], lag)
    a, b, c = lows
    if not math.isfinite(a + b + c):
        # A third without a sample: a step (clients connecting at once), not a steady rise.
        # (Cutting by count instead made 34 % of a 400-client closed loop's answers 503 on
        # a busy host; a loop deep in an open loop's backlog is then not seen growing.)
        return False
    need = max(rise, slope * third)
    return b - a > need and c - b > need


def recent(probe: deque[Sample], span: float) -> deque[Sample]:
    """The samples of the last ``span`` seconds (at least the last four)."""
    start = probe[-1][0] - span
    kept = deque(sample for sample in probe if sample[0] >= start)
    return kept if len(kept) >= 4 else deque(list(probe)[-4:])


def flat(window: deque[Sample], rise: float, slope: float) -> bool:
    """Evidence of a plateau: samples in each third of ``window``, not rising."""
    start, end = window[0][0], window[-1][0]
    third = (end - start) / 3
    if third <= 0:
        return False
    parts = {min(2, int((t - start) / third)) for t, _ in window}
    return len(parts) == 3 and not rising(window, rise, slope)


def abandoning(last: deque[Sample], lag: float, target: float, slough: float) -> bool:
    """With a share of the loop's completions for clients already gone (``GoneWindow``, judged
    by the limit): the lag grows enough to enter on that evidence too, an open loop past its
    capacity (issue #11, seventh round).

    Its clients give up at their deadline while their requests still wait in the loop; a closed
    loop's clients wait for their answers. The growth tests cannot see such a surge on h11 at
    4×: the lag grew 0.07-0.2 s/s (119, 107, 150, 163, 192 ms, under ``min_growth``), then the
    clients left and the iterations came out shorter (1,044, 1,542, 498 ms), so three
    lengthenings in a row never came. Here the evidence of growth is weaker, because the gone
    clients are evidence of their own: ``lag`` past the slough threshold and twice the smallest
    of the three samples before it, all late (a standing plateau, however long, does not pass:
    a closed loop whose clients time out, as 2,000 connections of the ~3 ms handler do, stays at
    its plateau, and skipping its abandoned requests keeps it there)."""
    if len(last) < 4:
        return False
    before = min(sample for _, sample in list(last)[:-1])
    # All three late: a loop that steps up from on time (clients connecting to a closed
    # loop whose batch is longer than their deadline) has no standing lag to double yet.
    return before > target and lag > max(slough, 2 * before)


class QueueGrowth:
    """The kernel's accept queue while it stands: connections wait for the server to accept them
    in every sample. ``growing`` says when it grew by ``min_growth`` in each of the last
    ``QUEUE_INTERVALS`` intervals: new connections keep arriving faster than the server takes
    them in. With uvloop that is where an open loop's whole excess waits while the loop's own
    lag stays flat (module ``adapters._backlog``: uvloop at 2-4× ran a flat 77-ms lag, like a
    closed loop, while the queue grew by ~1,000 connections a second). Clients of a closed loop
    connecting make the queue grow once and then drain (uvloop took 40 new connections in over a
    second while its loop ran a 3-ms handler: one interval's growth shed 73 % of a 50-client
    closed loop). Judged only with ``min_growth`` (``LoopDelayLimit(min_queue_growth=8)``):
    there a 503 loses to the kernel, whose excess times out unread at no CPU cost (a 503 through
    uvicorn costs ~58 µs; shedding answered 81-91 % of capacity in time at 2-4× against bare's
    95-99 %). The reading is reported either way."""

    __slots__ = ("interval", "last_queued", "min_growth", "run")

    def __init__(self, *, interval: float, min_growth: int | None) -> None:
        self.interval = interval
        self.min_growth = min_growth  # None: reported, not judged
        self.run: deque[tuple[float, int]] = deque()  # (time, length) while the queue stands
        self.last_queued = -INF  # the last sample (judged) with connections waiting

    @property
    def latest(self) -> int:
        """The last reading's length (0 once nothing stands)."""
        return self.run[-1][1] if self.run else 0

    def observe(self, now: float, queued: int | None) -> bool:
        """Record one reading (``None``: unknown here); True when the queue grows as above."""
        run = self.run
        if not queued:  # None (unknown) or 0: nothing stands
            run.clear()
            return False
        run.append((now, queued))
        growth = self.min_growth
        if growth is None:
            while len(run) > 1:
                run.popleft()
            return False
        self.last_queued = now
        span = QUEUE_INTERVALS * self.interval
        while len(run) > 2 and run[1][0] <= now - span:
            run.popleft()  # keep one sample at least the span old
        if len(run) > 256:
            run.popleft()
        if now - run[0][0] < span:
            return False
        later = queued
        for k in range(1, QUEUE_INTERVALS + 1):
            # The newest sample at least k intervals old.
            earlier = next(q for t, q in reversed(run) if t <= now - k * self.interval)
            if later - earlier < growth:
                return False
            later = earlier
        return True


class GoneWindow:
    """The probes' completion counts of the last ``span`` seconds (at least the last probe's:
    one per long iteration when the loop is deep in a backlog): how many requests completed and
    how many of them were for clients already gone (issue #11, seventh round).

    An open loop past its capacity keeps requests waiting longer than their clients wait: they
    give up at their deadline and the loop runs their handlers for no one. The limit enters on
    that evidence only with ``min_gone_share`` (opt-in): a closed loop whose batch outgrows its
    clients' deadline looks the same at its step (h11, 50 → 400 connections of the 3-ms handler,
    150 ms → 1.2 s: 63 % of its answers 503 with it on). Skipping such requests unrun
    (``skip_gone``) is opt-in too: on aiohttp it let the growth tests enter on that closed step
    in 2 runs of 9 (a batch of skipped requests makes an iteration shorter, the next longer)."""

    __slots__ = ("span", "window")

    def __init__(self, span: float) -> None:
        self.span = span
        self.window: deque[tuple[float, int, int]] = deque()  # (probe time, completed, gone)

    def add(self, now: float, completed: int, gone: int) -> None:
        window = self.window
        window.append((now, completed, gone))
        while len(window) > 1 and window[0][0] < now - self.span:
            window.popleft()
        if len(window) > 256:
            window.popleft()

    def totals(self) -> tuple[int, int]:
        """(completed, gone) over the window."""
        done = gone = 0
        for _, completed, left in self.window:
            done += completed
            gone += left
        return done, gone

    def share(self) -> float:
        done, gone = self.totals()
        return gone / done if done else 0.0
