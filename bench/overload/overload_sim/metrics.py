"""Figures of spec §11.6 from one run's per-attempt arrays: goodput, shed, late, percentiles,
recovery, and the per-second series the plots use."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from overload_sim.model import LATE, OK, SHED_OUTCOMES, RunData
from overload_sim.scenarios import CAPACITY_RPS, MEAN_SERVICE, Scenario

Series = list[tuple[int, int, int, int, float | None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseFigures:
    phase: str
    attempts: int
    ok: int
    late: int
    shed: int
    goodput_pct: float
    shed_pct: float
    late_pct: float
    p50_ms: float | None
    p99_ms: float | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def nearest_rank(sorted_values: np.ndarray, q: float) -> float:
    """Spec §11.6: index ``min(n − 1, floor(q·n))`` of the sorted values."""
    n = len(sorted_values)
    return float(sorted_values[min(n - 1, math.floor(q * n))])


class Arrays:
    """A run's attempts as numpy arrays, for fast windows by arrival time."""

    def __init__(self, data: RunData) -> None:
        self.arrivals = np.asarray(data.arrivals, dtype=float)
        outcomes = np.asarray(data.outcomes, dtype=int)
        self.latencies = np.asarray(data.latencies, dtype=float)
        self.ok = outcomes == OK
        self.late = outcomes == LATE
        self.accepted = self.ok | self.late
        self.shed = np.isin(outcomes, list(SHED_OUTCOMES))

    def window(self, start: float, end: float) -> tuple[int, int, int, int, np.ndarray]:
        mask = (self.arrivals >= start) & (self.arrivals < end)
        accepted = np.sort(self.latencies[mask & self.accepted])
        return (
            int(mask.sum()),
            int((mask & self.ok).sum()),
            int((mask & self.late).sum()),
            int((mask & self.shed).sum()),
            accepted,
        )


def phase_figures(arrays: Arrays, name: str, start: float, end: float) -> PhaseFigures:
    attempts, ok, late, shed, accepted = arrays.window(start, end)
    span = end - start
    return PhaseFigures(
        phase=name,
        attempts=attempts,
        ok=ok,
        late=late,
        shed=shed,
        goodput_pct=100.0 * ok / span / CAPACITY_RPS,
        shed_pct=100.0 * shed / attempts if attempts else 0.0,
        late_pct=100.0 * late / attempts if attempts else 0.0,
        p50_ms=1000 * nearest_rank(accepted, 0.50) if len(accepted) else None,
        p99_ms=1000 * nearest_rank(accepted, 0.99) if len(accepted) else None,
    )


def per_second(arrays: Arrays, duration: float) -> Series:
    """For each 1-s window by arrival: attempts, ok, late, shed, p99 of accepted (s)."""
    seconds = math.ceil(duration)
    index = np.floor(arrays.arrivals).astype(int)
    inside = index < seconds
    counts = [np.bincount(index[inside & m], minlength=seconds) for m in (inside, arrays.ok, arrays.late, arrays.shed)]
    order = np.lexsort((arrays.latencies, index))
    sorted_index = index[order]
    sorted_accepted = arrays.accepted[order]
    sorted_latency = arrays.latencies[order]
    bounds = np.searchsorted(sorted_index, np.arange(seconds + 1))
    series: Series = []
    for second in range(seconds):
        lo, hi = bounds[second], bounds[second + 1]
        lat = sorted_latency[lo:hi][sorted_accepted[lo:hi]]
        p99 = nearest_rank(lat, 0.99) if len(lat) else None
        series.append(
            (int(counts[0][second]), int(counts[1][second]), int(counts[2][second]), int(counts[3][second]), p99)
        )
    return series


def recovery_time(scenario: Scenario, series: Series) -> float | None:
    """Spec §11.6: the start offset of the first 1-s window after the overload whose p99 is at most
    ``max(100 ms, 3 × (S + io))`` and whose ok count is ≥ 95 % of its attempts; for S3 (HG), the
    first window shedding at most 0.5 % again. ``inf`` if none; None without an overload."""
    end = scenario.overload_end
    if end is None:
        return None
    first = math.ceil(end)
    for second in range(first, len(series)):
        attempts, ok, _late, shed, p99 = series[second]
        if not attempts:
            continue
        if scenario.recovery_shed_max is not None:
            healthy = 100.0 * shed / attempts <= scenario.recovery_shed_max
        else:
            bound = max(0.100, 3 * (MEAN_SERVICE + scenario.io(second + 0.5)))
            healthy = p99 is not None and p99 <= bound and ok >= 0.95 * attempts
        if healthy:
            return float(second - first)
    return math.inf
