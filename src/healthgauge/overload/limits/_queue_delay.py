"""healthgauge's default limit: queue-delay AIMD (spec §2.4).

A CoDel-style detector (the minimum queueing delay over an interval, against a fixed target) drives
an AIMD in-flight limit. Queueing delay measures waiting for *our* resources, so a slow downstream
dependency does not read as overload (benchmark S3), and a fixed target needs no learned baseline
that could drift with its own history (§8, "upward drift").

Rules, per interval (default 100 ms), with ``win_min`` the interval's minimum delay:

- ``win_min > target``: multiplicative decrease, ``L = max(min, backoff × L)``;
- else, only if the interval was *saturated* (an arrival met ``n + 1 ≥ floor(L)``): increase by
  ``max(L + 1, growth × L)`` while ``win_min ≤ target/2`` (fast growth when the needed concurrency
  jumps, e.g. 17 → 118 when a dependency slows). Between ``target/2`` and ``target`` the limit holds
  (``hold_band``, HG hysteresis): the spec's ``+1`` there kept the limit ~10 % higher and reversing
  twice as often, for no goodput (bench/overload, docs/overload.md). An
  application-limited server never grows its limit;
- optional contention guard (Cinnamon's covariance idea, §4.7): no increase while completions per
  interval fell over the last two intervals as the in-flight count rose;
- optional ``reversal_windows``: that many consecutive intervals before the limit changes direction
  (spec §8's oscillation safeguard, HG 2). Measured worse here (the limit overshot to 23 at 3x;
  S2 97-99 %, S4 97-98 %), so the default is 1;
- shed at handler start a request with ``delay > slough_factor × target`` while the previous
  interval was overloaded (folly's slough, §2.2).

A window with no start for a whole interval is stale: it is reset without a decision, so a single
slow request long ago cannot mark an idle server overloaded.
"""

from __future__ import annotations

import math

from healthgauge.overload.limits._limit import Limit, require, require_ratio

INF = math.inf


class QueueDelayLimit(Limit):
    """Queue-delay AIMD: the limit the admission controller uses unless told otherwise.

    Defaults follow spec §2.4 (target 5 ms, interval 100 ms, initial 16, min 2, max 1000, backoff
    0.9); ``growth`` (1.1), ``hold_band``, ``contention_guard`` and ``reversal_windows`` were chosen
    with ``bench/overload`` (docs/overload.md has the figures). ``contention_guard`` is off: in
    S2 the queueing delay already sees contention (longer service, longer waits); the guard
    changed nothing there and shed slightly more in S3.
    """

    __slots__ = (
        "_closed_min",
        "_completions",
        "_direction",
        "_history",
        "_max_inflight",
        "_overloaded",
        "_pending",
        "_saturated",
        "_win_end",
        "_win_min",
        "backoff",
        "contention_guard",
        "growth",
        "hold_band",
        "interval",
        "reversal_windows",
        "slough_timeout",
        "target",
    )

    kind = "queue_delay"

    def __init__(
        self,
        *,
        target: float = 0.005,
        interval: float = 0.1,
        initial: float = 16,
        min_limit: float = 2,
        max_limit: float = 1000,
        backoff: float = 0.9,
        growth: float = 1.1,
        slough_factor: float = 2.0,
        contention_guard: bool = False,
        hold_band: bool = True,
        reversal_windows: int = 1,
    ) -> None:
        require(target > 0, f"target must be > 0 s, got {target!r}")
        require(interval > target, f"interval ({interval!r} s) must be > target ({target!r} s)")
        require_ratio("backoff", backoff, 0.5, 1.0)
        require(1.0 <= growth <= 2.0, f"growth must lie in [1, 2], got {growth!r}")
        require(slough_factor >= 1.0, f"slough_factor must be ≥ 1, got {slough_factor!r}")
        super().__init__(initial=initial, min_limit=min_limit, max_limit=max_limit)
        self.target = float(target)
        self.interval = float(interval)
        self.backoff = float(backoff)
        self.growth = float(growth)
        self.slough_timeout = slough_factor * target
        self.contention_guard = contention_guard
        self.hold_band = hold_band
        self.reversal_windows = reversal_windows
        self._direction = 0
        self._pending = 0
        self._win_min = INF
        self._win_end = -INF  # the first start opens the first window
        self._closed_min = 0.0
        self._saturated = False
        self._overloaded = False
        self._completions = 0
        self._max_inflight = 0
        self._history: list[tuple[int, int]] = []  # (completions, max in-flight) of recent windows

    @property
    def overloaded(self) -> bool:
        """The last closed interval's minimum delay exceeded the target."""
        return self._overloaded

    @property
    def window_min(self) -> float:
        """The last closed interval's minimum queueing delay, in seconds (0 before any)."""
        return self._closed_min

    def on_admission(self, now: float, inflight: int, at_limit: bool) -> None:
        if at_limit or inflight + 2 > self.limit:  # n + 1 ≥ floor(L)
            self._saturated = True

    def on_start(self, now: float, delay: float) -> bool:
        if now >= self._win_end:
            self._close(now, delay)
        elif delay < self._win_min:
            self._win_min = delay
        return self._overloaded and delay > self.slough_timeout

    def on_sample(self, now: float, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        self._completions += 1
        if inflight > self._max_inflight:
            self._max_inflight = inflight

    def _close(self, now: float, delay: float) -> None:
        """Close the interval (the current start belongs to it, as in spec §2.4) and open the next."""
        win_min = min(self._win_min, delay)
        stale = now >= self._win_end + self.interval
        if stale:
            # No start for a whole interval: nothing recent to judge; an idle server is not overloaded.
            self._overloaded = False
            self._closed_min = delay
            self._history.clear()
        else:
            self._decide(win_min)
        self._win_min = INF
        self._win_end = now + self.interval
        self._saturated = False
        self._completions = 0
        self._max_inflight = 0

    def _decide(self, win_min: float) -> None:
        self._closed_min = win_min
        self._remember()
        self._overloaded = win_min > self.target
        if self._overloaded:
            want = -1
        elif not self._saturated or self._contended():
            want = 0
        elif win_min <= self.target / 2 or not self.hold_band:
            want = 1
        else:
            want = 0
        if want == 0:
            self._pending = 0
            return
        if want != self._direction and self._direction != 0:
            self._pending += 1
            if self._pending < self.reversal_windows:
                return
        self._pending = 0
        self._direction = want
        if want < 0:
            self._set(self.limit * self.backoff)
        elif win_min <= self.target / 2:
            self._set(max(self.limit + 1, self.limit * self.growth))
        else:
            self._set(self.limit + 1)

    def _remember(self) -> None:
        history = self._history
        history.append((self._completions, self._max_inflight))
        if len(history) > 3:
            del history[0]

    def _contended(self) -> bool:
        """Cinnamon's covariance test over the last three intervals: throughput fell twice while the
        in-flight count rose twice means more concurrency is buying less work (contention)."""
        if not self.contention_guard or len(self._history) < 3:
            return False
        (c0, n0), (c1, n1), (c2, n2) = self._history
        return c2 < c1 < c0 and n2 > n1 > n0

    def _details(self) -> dict[str, float]:
        return {
            "win_min": self._closed_min,
            "overloaded": float(self._overloaded),
            "target": self.target,
        }
