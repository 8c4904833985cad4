"""Range vectors: the ``x[5m]`` selector and the functions of one (``rate``, ``increase``,
``delta``, ``deriv``, ``*_over_time``, ...), as Prometheus 2.42's ``promql/functions.go``.

Loaded only by expressions with a range selector: an instant condition, the check path's usual
kind, reads each series' latest sample and needs none of this (nor ``bisect``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from math import isnan

from healthgauge.promql import _gomath as gm
from healthgauge.promql._errors import EvaluationError
from healthgauge.promql._floats import INF, NAN, div
from healthgauge.promql._history import STALE
from healthgauge.promql._nodes import (
    TWO_SAMPLE_FUNCTIONS,
    Call,
    MatNode,
    Node,
    Selector,
    VecNode,
    check_unique,
    drop_name,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from healthgauge.promql._history import History, Labels, Series
    from healthgauge.promql._nodes import Matrix, Vector


def window(series: Series, start: int, end: int) -> tuple[list[int], list[float]]:
    """The samples with ``start <= t <= end`` (Prometheus 2.x ranges are closed), stale ones left out."""
    ts, vs = series.ts, series.vs
    lo = bisect_left(ts, start)
    hi = bisect_right(ts, end)
    wt, wv = ts[lo:hi], vs[lo:hi]
    if series.stale and any(v is STALE for v in wv):
        keep = [i for i, v in enumerate(wv) if v is not STALE]
        wt = [wt[i] for i in keep]
        wv = [wv[i] for i in keep]
    return wt, wv


class RangeSource(MatNode):
    """What a range function reads: a range selector or a subquery."""

    __slots__ = ("range_ms",)
    range_ms: int

    def bounds(self, t: int) -> tuple[int, int]:
        """The closed window ``[start, end]`` read when evaluated at ``t``."""
        raise NotImplementedError

    def spans(self, h: History, t: int) -> list[tuple[Labels, list[int], list[float], int, int]]:
        """Per series with points in the window: its time and value lists and the ``lo:hi`` of the window."""
        raise NotImplementedError


class RangeSelector(RangeSource):
    """``selector[5m]``: the samples of each series in ``[t - offset - range, t - offset]`` (``t``
    being the selector's ``@`` time when it has one)."""

    __slots__ = ("selector",)

    def __init__(self, text: str, selector: Selector, range_ms: int) -> None:
        super().__init__(text)
        self.selector = selector
        self.range_ms = range_ms

    def children(self) -> tuple[Node, ...]:
        return (self.selector,)

    def bounds(self, t: int) -> tuple[int, int]:
        end = self.selector.ref(t)
        return end - self.range_ms, end

    def spans(self, h: History, t: int) -> list[tuple[Labels, list[int], list[float], int, int]]:
        """Functions read the bounds instead of copying the window: the agent evaluates every rule at
        every scrape, over rings of hundreds of samples. A series holding stale markers is given
        as a copy of its window without them.
        """
        start, end = self.bounds(t)
        out = []
        for series in self.selector.select(h):
            if series.stale:
                ts, vs = window(series, start, end)
                if ts:
                    out.append((series.labels, ts, vs, 0, len(ts)))
                continue
            ts = series.ts
            lo = bisect_left(ts, start)
            hi = bisect_right(ts, end)
            if lo < hi:
                out.append((series.labels, ts, series.vs, lo, hi))
        return out

    def mat(self, h: History, t: int) -> Matrix:
        start, end = self.bounds(t)
        out = []
        for series in self.selector.select(h):
            ts, vs = window(series, start, end)
            if ts:
                out.append((series.labels, ts, vs))
        return out

    def found_nothing(self, h: History, t: int) -> bool:
        return not self.mat(h, t)

    def reach_ms(self) -> int:
        return self.range_ms + self.selector.offset_ms


def _extrapolated(
    ts: list[int], vs: list[float], lo: int, hi: int, start: int, end: int, range_s: float, counter: bool, rate: bool
) -> float | None:
    """Prometheus's ``extrapolatedRate`` (rate, increase, delta) over samples ``lo:hi``."""
    count = hi - lo
    if count < 2:
        return None
    first, last = vs[lo], vs[hi - 1]
    result = last - first
    if counter:
        window = vs[lo:hi]
        if window != sorted(window):  # a sorted run has no reset: skip the loop
            previous = 0.0
            for v in window:
                if v < previous:
                    result += previous
                previous = v
    t_first, t_last = ts[lo], ts[hi - 1]
    to_start = (t_first - start) / 1000
    to_end = (end - t_last) / 1000
    sampled = (t_last - t_first) / 1000
    average = sampled / (count - 1)
    if counter and result > 0 and first >= 0:
        # A counter cannot go below zero: do not extrapolate past the point where it was zero.
        to_zero = sampled * (first / result)
        if to_zero < to_start:
            to_start = to_zero
    threshold = average * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else average / 2
    interval += to_end if to_end < threshold else average / 2
    factor = interval / sampled
    if rate:
        factor /= range_s
    return result * factor


def _instant(ts: list[int], vs: list[float], lo: int, hi: int, rate: bool) -> float | None:
    """Prometheus's ``instantValue`` (irate, idelta): the last two samples of ``lo:hi``."""
    if hi - lo < 2:
        return None
    last, previous = vs[hi - 1], vs[hi - 2]
    result = last - previous
    if rate and last < previous:
        result = last  # counter reset
    interval = ts[hi - 1] - ts[hi - 2]
    if interval == 0:
        return None
    if rate:
        result /= interval / 1000
    return result


def _deriv(ts: list[int], vs: list[float]) -> float | None:
    """The slope of the least-squares line (Prometheus's ``linearRegression``, Kahan-summed)."""
    if len(ts) < 2:
        return None
    return _regression(ts, vs, ts[0])[0]


def _predict_linear(ts: list[int], vs: list[float], at: int, seconds: float) -> float | None:
    """``predict_linear``: the least-squares line, intercept at the evaluation time, ``seconds`` ahead."""
    if len(ts) < 2:
        return None
    slope, intercept = _regression(ts, vs, at)
    return slope * seconds + intercept


def _regression(ts: list[int], vs: list[float], origin: int) -> tuple[float, float]:
    """Slope and intercept at ``origin`` of the least-squares line (``linearRegression``)."""
    n = 0.0
    sum_x = c_x = sum_y = c_y = sum_xy = c_xy = sum_x2 = c_x2 = 0.0
    first_y = vs[0]
    constant = True
    for t, v in zip(ts, vs, strict=True):
        if constant and v != first_y:
            constant = False
        n += 1.0
        x = (t - origin) / 1e3
        sum_x, c_x = gm.kahan_inc(x, sum_x, c_x)
        sum_y, c_y = gm.kahan_inc(v, sum_y, c_y)
        sum_xy, c_xy = gm.kahan_inc(x * v, sum_xy, c_xy)
        sum_x2, c_x2 = gm.kahan_inc(x * x, sum_x2, c_x2)
    if constant:
        return (NAN, NAN) if first_y in (INF, -INF) else (0.0, first_y)
    sum_x += c_x
    sum_y += c_y
    sum_xy += c_xy
    sum_x2 += c_x2
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    slope = div(cov_xy, var_x)
    return slope, sum_y / n - slope * sum_x / n


def _holt_winters(vs: list[float], sf: float, tf: float) -> float | None:
    """Double exponential smoothing (Prometheus 2.42's ``funcHoltWinters``)."""
    if len(vs) < 2:
        return None
    s0 = 0.0
    s1 = vs[0]
    b = vs[1] - vs[0]
    for i in range(1, len(vs)):
        x = sf * vs[i]
        if i > 1:  # calcTrendValue(i - 1, ...): the first trend is the first difference
            b = tf * (s1 - s0) + (1 - tf) * b
        y = (1 - sf) * (s1 + b)
        s0, s1 = s1, x + y
    return s1


def _check_factors(sf: float, tf: float) -> None:
    if sf <= 0 or sf >= 1:
        raise EvaluationError(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:f}")
    if tf <= 0 or tf >= 1:
        raise EvaluationError(f"invalid trend factor. Expected: 0 < tf < 1, got: {tf:f}")


def _changes(vs: list[float]) -> float:
    changes = 0
    prev = vs[0]
    for v in vs[1:]:
        if v != prev and not (v != v and prev != prev):
            changes += 1
        prev = v
    return float(changes)


def _resets(vs: list[float]) -> float:
    resets = 0
    prev = vs[0]
    for v in vs[1:]:
        if v < prev:
            resets += 1
        prev = v
    return float(resets)


def _avg_over_time(vs: list[float]) -> float:
    mean = c = count = 0.0
    for v in vs:
        count += 1
        if mean in (INF, -INF):
            if v in (INF, -INF) and (mean > 0) == (v > 0):
                continue
            if v not in (INF, -INF) and v == v:
                continue
        mean, c = gm.kahan_inc(v / count - mean / count, mean, c)
    if mean in (INF, -INF):
        return mean
    return mean + c


def _sum_over_time(vs: list[float]) -> float:
    total = c = 0.0
    for v in vs:
        total, c = gm.kahan_inc(v, total, c)
    if total in (INF, -INF):
        return total
    return total + c


def _stdvar_over_time(vs: list[float]) -> float:
    count = mean = c_mean = aux = c_aux = 0.0
    for v in vs:
        count += 1
        delta = v - (mean + c_mean)
        mean, c_mean = gm.kahan_inc(delta / count, mean, c_mean)
        aux, c_aux = gm.kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux)
    return (aux + c_aux) / count


def _min_over_time(vs: list[float]) -> float:
    if not isnan(sum(vs)):  # no NaN among them (a NaN makes the sum NaN): the builtin agrees with Go
        return min(vs)
    best = vs[0]
    for v in vs:
        if v < best or best != best:
            best = v
    return best


def _max_over_time(vs: list[float]) -> float:
    if not isnan(sum(vs)):
        return max(vs)
    best = vs[0]
    for v in vs:
        if v > best or best != best:
            best = v
    return best


OVER_TIME: dict[str, Callable[[list[float]], float]] = {
    "avg_over_time": _avg_over_time,
    "sum_over_time": _sum_over_time,
    "min_over_time": _min_over_time,
    "max_over_time": _max_over_time,
    "count_over_time": lambda vs: float(len(vs)),
    "last_over_time": lambda vs: vs[-1],
    "present_over_time": lambda vs: 1.0,
    "stddev_over_time": lambda vs: gm.sqrt(_stdvar_over_time(vs)),
    "stdvar_over_time": _stdvar_over_time,
    "changes": _changes,
    "resets": _resets,
}


class RangeCall(Call, VecNode):
    """A function of one range vector, per series, evaluated over the samples in its window."""

    __slots__ = ("origin", "selector")

    def __init__(self, text: str, name: str, args: tuple[Node, ...], selector: RangeSource) -> None:
        super().__init__(text, name, args)
        self.selector = selector
        # predict_linear inside a subquery: the subquery's first step, set while it evaluates (_drifting).
        self.origin: int | None = None

    def vec(self, h: History, t: int) -> Vector:
        if self.origin is not None and self.name == "predict_linear":
            return self._drifting(h, t, self.origin)
        return self._vec(h, t)

    def _drifting(self, h: History, t: int, origin: int) -> Vector:
        """Prometheus 2.42's ``predict_linear`` of an ``@`` range selector inside a subquery: the
        function is "@-unsafe", so it runs at every step of the subquery with the selector's offset
        set once, for the subquery's first step (``setOffsetForAtModifier``): its window moves with
        the step, ``@ - offset + (t - first step)`` at the end, over data the storage returned for
        the ``@`` window only (none after ``@ - offset``)."""
        source = self.selector
        at = source.selector.at_ms if isinstance(source, RangeSelector) else None
        if at is None or not isinstance(source, RangeSelector):
            return self._vec(h, t)
        selector = source.selector
        _, data_end = source.bounds(t)
        selector.at_ms = at + t - origin
        try:
            spans = source.spans(h, t)
        finally:
            selector.at_ms = at
        clipped = [(lb, ts, vs, lo, bisect_right(ts, data_end, lo, hi)) for lb, ts, vs, lo, hi in spans]
        return self._smoothing(h, t, [span for span in clipped if span[3] < span[4]])

    def _vec(self, h: History, t: int) -> Vector:
        name = self.name
        sel = self.selector
        start, end = sel.bounds(t)
        spans = sel.spans(h, t)
        if name in OVER_TIME:
            fn = OVER_TIME[name]
            if name == "last_over_time":  # keeps the name: it "acts like offset"
                return check_unique([(labels, vs[hi - 1]) for labels, _ts, vs, _lo, hi in spans])
            if name == "count_over_time":
                return check_unique([(drop_name(labels), float(hi - lo)) for labels, _ts, _vs, lo, hi in spans])
            return check_unique([(drop_name(labels), fn(vs[lo:hi])) for labels, _ts, vs, lo, hi in spans])
        if name == "quantile_over_time":
            from healthgauge.promql._aggregate import quantile

            q = self.scalar_arg(0, h, t, 0.0)
            return check_unique([(drop_name(labels), quantile(q, vs[lo:hi])) for labels, _ts, vs, lo, hi in spans])
        if name in ("predict_linear", "holt_winters"):
            return self._smoothing(h, t, spans)
        range_s = sel.range_ms / 1000
        out: Vector = []
        for labels, ts, vs, lo, hi in spans:
            if name in ("rate", "increase", "delta"):
                value = _extrapolated(ts, vs, lo, hi, start, end, range_s, name != "delta", name == "rate")
            elif name in ("irate", "idelta"):
                value = _instant(ts, vs, lo, hi, name == "irate")
            else:
                value = _deriv(ts[lo:hi], vs[lo:hi])
            if value is not None:
                out.append((drop_name(labels), value))
        return check_unique(out)

    def _smoothing(self, h: History, t: int, spans: list[tuple[Labels, list[int], list[float], int, int]]) -> Vector:
        """``predict_linear(v, seconds)`` and ``holt_winters(v, sf, tf)`` (whose factors are checked
        only when a series has samples to smooth, as Prometheus checks them in the call)."""
        out: Vector = []
        if self.name == "predict_linear":
            seconds = self.scalar_arg(1, h, t, 0.0)
            for labels, ts, vs, lo, hi in spans:
                value = _predict_linear(ts[lo:hi], vs[lo:hi], t, seconds)
                if value is not None:
                    out.append((drop_name(labels), value))
            return check_unique(out)
        sf, tf = self.scalar_arg(1, h, t, 0.0), self.scalar_arg(2, h, t, 0.0)
        for labels, _ts, vs, lo, hi in spans:
            _check_factors(sf, tf)
            value = _holt_winters(vs[lo:hi], sf, tf)
            if value is not None:
                out.append((drop_name(labels), value))
        return check_unique(out)

    def too_few_samples(self, h: History, t: int) -> str | None:
        if self.name in TWO_SAMPLE_FUNCTIONS and not self.vec(h, t):
            return f"{self.name}() needs 2 samples in {self.selector.text}, no series had them"
        return None


FUNCTIONS: dict[str, type[Call]] = dict.fromkeys((*OVER_TIME, *TWO_SAMPLE_FUNCTIONS, "quantile_over_time"), RangeCall)
