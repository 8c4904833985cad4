"""``histogram_quantile()`` over classic ``le`` buckets (Prometheus's ``bucketQuantile`` in
``promql/quantile.go``); ``histogram_count()``, ``histogram_sum()`` and ``histogram_fraction()``,
which in 2.42 read native histograms only and skip every float sample, so they return nothing on
the classic histograms an exposition page carries."""

from __future__ import annotations

from healthgauge.promql._floats import INF, NAN
from healthgauge.promql._nodes import Call, VecNode, check_unique, drop_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql._history import History, Labels
    from healthgauge.promql._nodes import Vector


class NativeOnly(Call, VecNode):
    """``histogram_count(v)``, ``histogram_sum(v)``, ``histogram_fraction(lo, hi, v)``: the argument is
    evaluated (its errors are errors), and every float sample is skipped, as Prometheus 2.42 does."""

    __slots__ = ()

    def vec(self, h: History, t: int) -> Vector:
        for i, arg in enumerate(self.args):
            if isinstance(arg, VecNode):
                self.vector_arg(i, h, t)
            else:
                self.scalar_arg(i, h, t, 0.0)
        return []


class HistogramQuantile(Call, VecNode):
    """``histogram_quantile(φ, buckets)`` over classic ``le`` buckets (Prometheus's ``bucketQuantile``)."""

    __slots__ = ()

    def vec(self, h: History, t: int) -> Vector:
        q = self.scalar_arg(0, h, t, 0.0)
        groups: dict[Labels, tuple[Labels, list[tuple[float, float]]]] = {}
        for labels, v in self.vector_arg(1, h, t):
            le = ""
            rest = []
            for pair in labels:
                if pair[0] == "le":
                    le = pair[1]
                else:
                    rest.append(pair)
            bound = parse_go_float(le)
            if bound is None:
                continue  # no bucket label, or not a number: Prometheus skips the sample
            key = tuple(rest)
            group = groups.get(key)
            if group is None:
                group = groups[key] = (drop_name(key), [])
            group[1].append((bound, v))
        return check_unique([(labels, bucket_quantile(q, buckets)) for labels, buckets in groups.values()])


def parse_go_float(text: str) -> float | None:
    """Go's ``strconv.ParseFloat`` for a bucket bound: decimal, exponent, Inf/NaN spellings, hex."""
    if not text or text.strip() != text or "_" in text:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return float.fromhex(text) if "p" in text.lower() else None
    except ValueError:
        return None


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    if q != q:
        return NAN
    if q < 0:
        return -INF
    if q > 1:
        return INF
    buckets = sorted(buckets, key=lambda b: b[0])
    if buckets[-1][0] != INF:
        return NAN
    # Coalesce buckets with the same bound, then force the counts to be monotonic.
    merged: list[list[float]] = []
    for bound, count in buckets:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    highest = -INF
    for bucket in merged:
        if bucket[1] > highest:
            highest = bucket[1]
        elif bucket[1] < highest:
            bucket[1] = highest
    if len(merged) < 2:
        return NAN
    observations = merged[-1][1]
    if observations == 0:
        return NAN
    rank = q * observations
    # sort.Search over all but the +Inf bucket: the first bucket whose count reaches the rank.
    b = len(merged) - 1
    for i in range(len(merged) - 1):
        if merged[i][1] >= rank:
            b = i
            break
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start = 0.0
    end = merged[b][0]
    count = merged[b][1]
    if b > 0:
        start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return start + (end - start) * (rank / count)


FUNCTIONS: dict[str, type[Call]] = {
    "histogram_quantile": HistogramQuantile,
    **dict.fromkeys(("histogram_count", "histogram_sum", "histogram_fraction"), NativeOnly),
}
