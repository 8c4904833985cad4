"""RTT-driven limits after Netflix concurrency-limits (spec §4.1-4.5): ``WindowedLimit``,
``AIMDLimit``, ``VegasLimit``, ``GradientLimit`` and ``Gradient2Limit``.

They follow the project's code (checked against ``concurrency-limits-core``'s ``limit`` package),
not its README, where the two differ (spec §4.2: Vegas scales alpha and beta with ``log10 L``).
Their documented weakness stands: a slow dependency raises the RTT exactly as overload does, so
they shed in benchmark S3 where the queue-delay limit does not. Safeguards that change an anchor's
behaviour (spec §4.2, §4.4, §8) are opt-in keyword arguments, off by default, so the benchmark
measures each algorithm as its authors ship it.

Each takes samples through ``on_sample(now, start, rtt, inflight, dropped)``; wrap them in
``WindowedLimit`` (the default way to use them, §4.1) to aggregate per window.
"""

from __future__ import annotations

import math
import random

from healthgauge.overload.limits._limit import Limit, clamp, require, require_ratio

INF = math.inf


class WindowedLimit(Limit):
    """Aggregate samples into windows before a delegate limit sees them (Netflix ``WindowedLimit``).

    A window closes at the first sample completing after ``next_update``; the next lasts
    ``clamp(2 × min_rtt, min_window, max_window)``. A window with fewer than ``window_size``
    samples is *discarded*, not merged (concurrency-limits#125: at low RPS a health check became
    the window minimum). Samples with ``rtt < min_rtt_threshold`` never count (#176). The delegate
    receives the window's mean RTT (or its ``percentile``), its maximum in-flight count and
    whether any sample was dropped.
    """

    __slots__ = (
        "_count",
        "_delegate",
        "_dropped",
        "_max_inflight",
        "_min_rtt",
        "_next_update",
        "_rtts",
        "_sum",
        "_windows",
        "max_window",
        "min_rtt_threshold",
        "min_window",
        "percentile",
        "window_size",
    )

    kind = "windowed"

    def __init__(
        self,
        delegate: Limit,
        *,
        min_window: float = 1.0,
        max_window: float = 1.0,
        window_size: int = 10,
        min_rtt_threshold: float = 100e-6,
        percentile: float | None = None,
    ) -> None:
        require(min_window >= 0.1, f"min_window must be ≥ 0.1 s (Netflix's bound), got {min_window!r}")
        require(max_window >= min_window, f"max_window ({max_window!r}) must be ≥ min_window ({min_window!r})")
        require(window_size >= 10, f"window_size must be ≥ 10 samples (Netflix's bound), got {window_size!r}")
        require(min_rtt_threshold >= 0, f"min_rtt_threshold must be ≥ 0 s, got {min_rtt_threshold!r}")
        if percentile is not None:
            require_ratio("percentile", percentile, 0.0, 1.0, high_open=False)
        super().__init__(initial=delegate.limit, min_limit=delegate.min_limit, max_limit=delegate.max_limit)
        self._delegate = delegate
        self.min_window = float(min_window)
        self.max_window = float(max_window)
        self.window_size = window_size
        self.min_rtt_threshold = float(min_rtt_threshold)
        self.percentile = percentile
        self._next_update = -INF
        self._windows = 0
        self._reset()

    @property
    def delegate(self) -> Limit:
        return self._delegate

    @property
    def overloaded(self) -> bool:
        return self._delegate.overloaded

    def _reset(self) -> None:
        self._count = 0
        self._sum = 0.0
        self._min_rtt = INF
        self._max_inflight = 0
        self._dropped = False
        self._rtts: list[float] = []

    def on_admission(self, now: float, inflight: int, at_limit: bool) -> None:
        self._delegate.on_admission(now, inflight, at_limit)
        self.limit = self._delegate.limit

    def on_sample(self, now: float, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        if rtt < self.min_rtt_threshold:
            return
        self._count += 1
        self._sum += rtt
        if rtt < self._min_rtt:
            self._min_rtt = rtt
        if inflight > self._max_inflight:
            self._max_inflight = inflight
        self._dropped = self._dropped or dropped
        if self.percentile is not None:
            self._rtts.append(rtt)
        if now > self._next_update:
            self._close(now, start)

    def _close(self, now: float, start: float) -> None:
        self._next_update = now + clamp(2 * self._min_rtt, self.min_window, self.max_window)
        if self._count >= self.window_size:
            self._windows += 1
            self._delegate.on_sample(now, start, self._tracked_rtt(), self._max_inflight, self._dropped)
            self._set(self._delegate.limit)
        self._reset()

    def _tracked_rtt(self) -> float:
        if self.percentile is None:
            return self._sum / self._count
        ordered = sorted(self._rtts)
        return ordered[min(len(ordered) - 1, int(self.percentile * len(ordered)))]

    def _details(self) -> dict[str, float]:
        details = {f"delegate_{k}": v for k, v in self._delegate.statistics().details.items()}
        details["windows"] = float(self._windows)
        return details

    def __repr__(self) -> str:
        return f"WindowedLimit({self._delegate!r})"


class AIMDLimit(Limit):
    """Additive increase, multiplicative decrease on drops (Netflix ``AIMDLimit``, spec §4.5).

    A drop, or an RTT above ``timeout``, multiplies ``L`` by ``backoff``; otherwise ``L + 1`` when
    at least half the limit was in use. There is no halving at ``max`` (#155, removed in #174).
    """

    __slots__ = ("backoff", "timeout")

    kind = "aimd"

    def __init__(
        self,
        *,
        initial: float = 20,
        min_limit: float = 20,
        max_limit: float = 200,
        backoff: float = 0.9,
        timeout: float = 5.0,
    ) -> None:
        require_ratio("backoff", backoff, 0.5, 1.0)
        require(timeout > 0, f"timeout must be > 0 s, got {timeout!r}")
        super().__init__(initial=initial, min_limit=min_limit, max_limit=max_limit)
        self.backoff = float(backoff)
        self.timeout = float(timeout)

    def on_sample(self, now: float, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        if dropped or rtt > self.timeout:
            self._set(self.limit * self.backoff)
        elif 2 * inflight >= self.limit:
            self._set(self.limit + 1)


def _lg(limit: float) -> int:
    """Vegas's step unit: ``max(1, floor(log10 L))``."""
    return max(1, int(math.log10(max(limit, 1.0))))


class VegasLimit(Limit):
    """TCP-Vegas-style limit on the RTT queue estimate (Netflix ``VegasLimit``, spec §4.2).

    ``q = ceil(L × (1 − rtt_noload / rtt))`` estimates the queue; with ``lg = max(1, floor(log10 L))``
    the limit grows by ``6·lg`` while ``q ≤ lg``, by ``lg`` while ``q < 3·lg``, shrinks by ``lg``
    once ``q > 6·lg`` or on a drop, and holds while application-limited (``2 × inflight < L``).
    Every ``U[0.5, 1) × probe_multiplier × L`` samples the baseline is re-probed: it is set to the
    current RTT. That probe drifts upward under sustained load (#165); ``probe_only_when_idle``
    accepts a probe only while ``inflight < L/2`` (OpenSearch#22312's baseline poisoning protection).
    """

    __slots__ = (
        "_jitter",
        "_probe_count",
        "_rng",
        "probe_multiplier",
        "probe_only_when_idle",
        "rtt_noload",
        "smoothing",
    )

    kind = "vegas"

    def __init__(
        self,
        *,
        initial: float = 20,
        max_limit: float = 1000,
        smoothing: float = 1.0,
        probe_multiplier: int = 30,
        probe_only_when_idle: bool = False,
        rng: random.Random | None = None,
    ) -> None:
        require_ratio("smoothing", smoothing, 0.0, 1.0, high_open=False)
        require(smoothing > 0, "smoothing must be > 0 (0 would freeze the limit)")
        require(probe_multiplier >= 1, f"probe_multiplier must be ≥ 1, got {probe_multiplier!r}")
        super().__init__(initial=initial, min_limit=1, max_limit=max_limit)
        self.smoothing = float(smoothing)
        self.probe_multiplier = probe_multiplier
        self.probe_only_when_idle = probe_only_when_idle
        self._rng = random.Random() if rng is None else rng
        self.rtt_noload = 0.0
        self._probe_count = 0
        self._jitter = self._rng.uniform(0.5, 1.0)

    def on_sample(self, now: float, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        if rtt <= 0:
            return
        self._probe_count += 1
        if self._jitter * self.probe_multiplier * self.limit <= self._probe_count and (
            not self.probe_only_when_idle or 2 * inflight < self.limit
        ):
            self._jitter = self._rng.uniform(0.5, 1.0)
            self._probe_count = 0
            self.rtt_noload = rtt
            return
        if self.rtt_noload == 0 or rtt < self.rtt_noload:
            self.rtt_noload = rtt
            return
        self._update(rtt, inflight, dropped)

    def _update(self, rtt: float, inflight: int, dropped: bool) -> None:
        limit = self.limit
        lg = _lg(limit)
        if dropped:
            new = limit - lg
        elif inflight * 2 < limit:
            return
        else:
            queue = math.ceil(limit * (1 - self.rtt_noload / rtt))
            if queue <= lg:
                new = limit + 6 * lg
            elif queue < 3 * lg:
                new = limit + lg
            elif queue > 6 * lg:
                new = limit - lg
            else:
                return
        new = clamp(new, 1, self.max_limit)
        self._set((1 - self.smoothing) * limit + self.smoothing * new)

    def _details(self) -> dict[str, float]:
        return {"rtt_noload": self.rtt_noload}


class GradientLimit(Limit):
    """Gradient version 1 (Netflix ``GradientLimit``, spec §4.3), superseded by Gradient2.

    ``g = clamp(rtt_tolerance × rtt_noload / rtt, 0.5, 1)`` and ``new = L·g + queue_size(L)`` with
    ``queue_size(L) = max(4, floor(sqrt L))``; smoothing applies only when decreasing. Every
    ``probe_interval + U[0, probe_interval)`` samples the limit drops to ``queue_size(L)`` and the
    minimum RTT is re-learnt.
    """

    __slots__ = (
        "_probe_countdown",
        "_rng",
        "backoff",
        "probe_interval",
        "rtt_noload",
        "rtt_tolerance",
        "smoothing",
    )

    kind = "gradient"

    def __init__(
        self,
        *,
        initial: float = 50,
        min_limit: float = 1,
        max_limit: float = 1000,
        smoothing: float = 0.2,
        rtt_tolerance: float = 2.0,
        backoff: float = 0.9,
        probe_interval: int = 1000,
        rng: random.Random | None = None,
    ) -> None:
        require_ratio("smoothing", smoothing, 0.0, 1.0, high_open=False)
        require(rtt_tolerance >= 1.0, f"rtt_tolerance must be ≥ 1, got {rtt_tolerance!r}")
        require_ratio("backoff", backoff, 0.5, 1.0)
        require(probe_interval >= 1, f"probe_interval must be ≥ 1 sample, got {probe_interval!r}")
        super().__init__(initial=initial, min_limit=min_limit, max_limit=max_limit)
        self.smoothing = float(smoothing)
        self.rtt_tolerance = float(rtt_tolerance)
        self.backoff = float(backoff)
        self.probe_interval = probe_interval
        self._rng = random.Random() if rng is None else rng
        self.rtt_noload = INF
        self._probe_countdown = self._next_probe()

    def _next_probe(self) -> int:
        return self.probe_interval + int(self._rng.random() * self.probe_interval)

    @staticmethod
    def queue_size(limit: float) -> int:
        return max(4, int(math.sqrt(limit)))

    def on_sample(self, now: float, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        if rtt <= 0:
            return
        self._probe_countdown -= 1
        queue = self.queue_size(self.limit)
        if self._probe_countdown <= 0:
            self._probe_countdown = self._next_probe()
            self.rtt_noload = INF
            self._set(max(self.min_limit, queue))
            return
        self.rtt_noload = min(self.rtt_noload, rtt)
        if dropped:
            new = self.limit * self.backoff
        elif inflight < self.limit / 2:
            return
        else:
            gradient = clamp(self.rtt_tolerance * self.rtt_noload / rtt, 0.5, 1.0)
            new = self.limit * gradient + queue
        if new < self.limit:
            new = (1 - self.smoothing) * self.limit + self.smoothing * new
        self._set(clamp(new, queue, self.max_limit))

    def _details(self) -> dict[str, float]:
        return {"rtt_noload": 0.0 if self.rtt_noload == INF else self.rtt_noload}


class Gradient2Limit(Limit):
    """Gradient2 (Netflix ``Gradient2Limit``, the project's recommended server limit; spec §4.4).

    The long-term RTT is the mean of the first 10 samples, then an EMA with factor
    ``2 / (long_window + 1)``, decayed by 0.95 whenever it exceeds twice the current RTT.
    ``g = clamp(rtt_tolerance × long_rtt / rtt, 0.5, 1)``; ``new = L·g + queue_size``; the limit
    moves by ``smoothing`` towards it. Drops are ignored (#176) and nothing changes while
    ``inflight < L/2``.

    Failure mode: ``long_rtt`` catches up with a loaded RTT, ``g`` returns to 1 and ``L`` climbs by
    ``smoothing × queue_size`` per window to ``max`` (#134, #137). ``drift_guard`` applies spec §4.4's
    safeguards: add ``queue_size`` only when ``g = 1``, and freeze ``long_rtt`` while ``g < 1``.
    """

    __slots__ = (
        "_count",
        "_long_rtt",
        "_sum",
        "drift_guard",
        "long_window",
        "queue_size",
        "rtt_tolerance",
        "smoothing",
    )

    kind = "gradient2"

    WARMUP = 10

    def __init__(
        self,
        *,
        initial: float = 20,
        min_limit: float = 20,
        max_limit: float = 200,
        smoothing: float = 0.2,
        queue_size: float = 4,
        long_window: int = 600,
        rtt_tolerance: float = 1.5,
        drift_guard: bool = False,
    ) -> None:
        require_ratio("smoothing", smoothing, 0.0, 1.0, high_open=False)
        require(queue_size >= 0, f"queue_size must be ≥ 0, got {queue_size!r}")
        require(long_window >= 1, f"long_window must be ≥ 1 sample, got {long_window!r}")
        require(rtt_tolerance >= 1.0, f"rtt_tolerance must be ≥ 1, got {rtt_tolerance!r}")
        super().__init__(initial=initial, min_limit=min_limit, max_limit=max_limit)
        self.smoothing = float(smoothing)
        self.queue_size = float(queue_size)
        self.long_window = long_window
        self.rtt_tolerance = float(rtt_tolerance)
        self.drift_guard = drift_guard
        self._long_rtt = 0.0
        self._sum = 0.0
        self._count = 0

    @property
    def long_rtt(self) -> float:
        return self._long_rtt

    def _add_long(self, rtt: float) -> float:
        if self._count < self.WARMUP:
            self._count += 1
            self._sum += rtt
            self._long_rtt = self._sum / self._count
        else:
            factor = 2.0 / (self.long_window + 1)
            self._long_rtt = self._long_rtt * (1 - factor) + rtt * factor
        return self._long_rtt

    def on_sample(self, now: float, start: float, rtt: float, inflight: int, dropped: bool) -> None:
        if rtt <= 0:
            return
        if self.drift_guard and self._count >= self.WARMUP:
            queued = self.rtt_tolerance * self._long_rtt / rtt < 1.0
            long_rtt = self._long_rtt if queued else self._add_long(rtt)
        else:
            long_rtt = self._add_long(rtt)
        if long_rtt / rtt > 2:
            self._long_rtt *= 0.95
        if inflight < self.limit / 2:
            return
        gradient = clamp(self.rtt_tolerance * long_rtt / rtt, 0.5, 1.0)
        headroom = self.queue_size if (not self.drift_guard or gradient >= 1.0) else 0.0
        new = self.limit * gradient + headroom
        self._set((1 - self.smoothing) * self.limit + self.smoothing * new)

    def _details(self) -> dict[str, float]:
        return {"long_rtt": self._long_rtt}
