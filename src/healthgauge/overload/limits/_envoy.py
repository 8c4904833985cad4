"""Envoy's adaptive concurrency gradient controller (spec §4.6), checked against envoyproxy/envoy
``source/extensions/filters/http/adaptive_concurrency/controller/gradient_controller.cc``.

Every ``update_interval`` the configured percentile of the interval's RTTs gives
``g = clamp(min_rtt × (1 + buffer) / sample_rtt, 0.5, 2)`` and ``L = int(L·g + sqrt(L·g))`` clamped
to ``[floor, max]`` (no smoothing). A minRTT window opens at start and then every
``min_rtt_interval + U[0, jitter × min_rtt_interval)``: ``L`` is pinned to ``min_concurrency``, samples
from requests received before the window (the epoch) are ignored (#11579), and after
``request_count`` samples their percentile becomes ``min_rtt`` and ``L`` is restored. Five
consecutive updates at the floor open a window at once (#10647).

Envoy runs these on timers; here they run lazily at the next event with the timer's own time,
which is the same sequence of decisions because nothing changes between events. Envoy takes the
percentile from a circllhist approximation; this takes the nearest-rank value of the samples.

Known failure modes, kept on purpose (the benchmark measures them): pinning to
``min_concurrency`` sheds bursts at low load (#8337, #9007, #18152); with no application-limited
guard and ``g`` up to 2 the limit grows to ``max`` at low load. ``app_limited_guard`` (HG, off by
default) forbids increases while the interval's peak in-flight count stayed below ``L/2``.
"""

from __future__ import annotations

import math
import random

from healthgauge.overload.limits._limit import Limit, clamp, require, require_ratio

INF = math.inf
CONSECUTIVE_FLOOR_UPDATES = 5  # envoyproxy/envoy#10647


class EnvoyGradientLimit(Limit):
    """Envoy's gradient controller as a limit; defaults are the docs' and the v3 proto's."""

    __slots__ = (
        "_at_floor",
        "_deferred",
        "_epoch",
        "_in_window",
        "_next_update",
        "_next_window",
        "_peak_inflight",
        "_rng",
        "_samples",
        "_started",
        "app_limited_guard",
        "buffer",
        "jitter",
        "min_concurrency",
        "min_rtt",
        "min_rtt_interval",
        "percentile",
        "request_count",
        "update_interval",
    )

    kind = "envoy_gradient"

    def __init__(
        self,
        *,
        update_interval: float = 0.1,
        min_rtt_interval: float = 60.0,
        jitter: float = 0.15,
        request_count: int = 50,
        min_concurrency: int = 3,
        buffer: float = 0.25,
        percentile: float = 0.5,
        max_limit: float = 1000,
        min_limit: float | None = None,
        fixed_min_rtt: float | None = None,
        app_limited_guard: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        require(update_interval > 0, f"update_interval must be > 0 s, got {update_interval!r}")
        require(min_rtt_interval >= 0, f"min_rtt_interval must be ≥ 0 s, got {min_rtt_interval!r}")
        require(
            min_rtt_interval > 0 or fixed_min_rtt is not None,
            "min_rtt_interval = 0 disables the minRTT window and then requires fixed_min_rtt (envoy#38359)",
        )
        require(fixed_min_rtt is None or fixed_min_rtt > 0, f"fixed_min_rtt must be > 0 s, got {fixed_min_rtt!r}")
        require_ratio("jitter", jitter, 0.0, 1.0, high_open=False)
        require_ratio("percentile", percentile, 0.0, 1.0, high_open=False)
        require(buffer >= 0, f"buffer must be ≥ 0, got {buffer!r}")
        require(request_count >= 1, f"request_count must be ≥ 1, got {request_count!r}")
        require(min_concurrency >= 1, f"min_concurrency must be ≥ 1, got {min_concurrency!r}")
        floor = float(min_concurrency if min_limit is None else min_limit)
        super().__init__(initial=min_concurrency, min_limit=min(floor, min_concurrency), max_limit=max_limit)
        self.min_limit = floor  # the floor (#46602); the probe pins to min_concurrency regardless
        self.update_interval = float(update_interval)
        self.min_rtt_interval = float(min_rtt_interval)
        self.jitter = float(jitter)
        self.request_count = request_count
        self.min_concurrency = min_concurrency
        self.buffer = float(buffer)
        self.percentile = float(percentile)
        self.app_limited_guard = app_limited_guard
        self._rng = random.Random() if rng is None else rng
        self.min_rtt = 0.0 if fixed_min_rtt is None else float(fixed_min_rtt)
        self._samples: list[float] = []
        self._started = False
        self._in_window = False
        self._deferred = float(min_concurrency)
        self._epoch = -INF
        self._next_update = INF
        self._next_window = INF
        self._at_floor = 0
        self._peak_inflight = 0

    @property
    def in_min_rtt_window(self) -> bool:
        return self._in_window

    def on_admission(self, now: float, inflight: int, at_limit: bool) -> None:
        self._advance(now)

    def on_sample(self, now: float, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        self._advance(now)
        if start < self._epoch:
            return  # received before the minRTT window opened: not a minRTT sample (#11579)
        self._samples.append(rtt)
        if inflight > self._peak_inflight:
            self._peak_inflight = inflight
        if self._in_window and len(self._samples) >= self.request_count:
            self._finish_window(now)

    # -- timers, run lazily --------------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if not self._started:
            self._started = True
            if self.min_rtt_interval > 0:
                self._enter_window(now)
            else:
                self._next_update = now + self.update_interval
            return
        while not self._in_window:
            if self._next_window <= now and self._next_window <= self._next_update:
                self._enter_window(self._next_window)
                return
            if self._next_update > now:
                return
            if not self._samples:
                # Envoy's timer finds an empty histogram and changes nothing; skip such ticks at once.
                skipped = math.floor((now - self._next_update) / self.update_interval) + 1
                self._next_update += skipped * self.update_interval
                continue
            at = self._next_update
            self._next_update = at + self.update_interval
            self._update(at)

    def _enter_window(self, at: float) -> None:
        self._in_window = True
        self._deferred = self.limit
        self.limit = float(self.min_concurrency)
        self._samples.clear()
        self._epoch = at
        self._next_update = INF
        self._next_window = INF

    def _finish_window(self, now: float) -> None:
        self.min_rtt = self._take_percentile()
        self._in_window = False
        self.limit = self._deferred
        self._at_floor = 0
        spread = self.jitter * self.min_rtt_interval
        self._next_window = now + self.min_rtt_interval + self._rng.random() * spread
        self._next_update = now + self.update_interval

    def _take_percentile(self) -> float:
        ordered = sorted(self._samples)
        self._samples.clear()
        self._peak_inflight = 0
        return ordered[min(len(ordered) - 1, int(self.percentile * len(ordered)))]

    def _update(self, at: float) -> None:
        peak = self._peak_inflight
        sample_rtt = self._take_percentile()
        if sample_rtt <= 0 or self.min_rtt <= 0:
            return
        gradient = clamp(self.min_rtt * (1 + self.buffer) / sample_rtt, 0.5, 2.0)
        scaled = self.limit * gradient
        new = float(int(scaled + math.sqrt(scaled)))
        if self.app_limited_guard and new > self.limit and peak < self.limit / 2:
            new = self.limit
        old = self.limit
        self._set(clamp(new, self.min_limit, self.max_limit))
        floor = float(self.min_concurrency)
        self._at_floor = self._at_floor + 1 if old == floor and self.limit == floor else 0
        if self._at_floor >= CONSECUTIVE_FLOOR_UPDATES and self.min_rtt_interval > 0:
            self._next_window = at  # re-measure now (#10647)

    def _details(self) -> dict[str, float]:
        return {"min_rtt": self.min_rtt, "in_min_rtt_window": float(self._in_window)}
