"""PromQL functions, as Prometheus 2.42's ``promql/functions.go`` and ``promql/quantile.go``.

Instant-vector functions drop ``__name__`` except ``label_replace``, ``label_join``, ``sort`` and
``sort_desc``; range-vector functions drop it except ``last_over_time`` (which "acts like offset").
"""

from __future__ import annotations

from math import isnan

from healthgauge.promql import _gomath as gm
from healthgauge.promql._aggregate import quantile
from healthgauge.promql._nodes import (
    MatNode,
    Node,
    RangeSelector,
    ScalarNode,
    Selector,
    VecNode,
    check_unique,
    drop_name,
    set_label,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from re import Match, Pattern

    from healthgauge.promql._history import History, Labels
    from healthgauge.promql._nodes import Vector

MATH: dict[str, Callable[[float], float]] = {
    "abs": abs,
    "ceil": gm.ceil,
    "floor": gm.floor,
    "exp": gm.exp,
    "sqrt": gm.sqrt,
    "ln": gm.ln,
    "log2": gm.log2,
    "log10": gm.log10,
    "sgn": gm.sgn,
}


class Call(Node):
    __slots__ = ("args", "name")

    def __init__(self, text: str, name: str, args: tuple[Node, ...]) -> None:
        super().__init__(text)
        self.name = name
        self.args = args

    def children(self) -> tuple[Node, ...]:
        return self.args

    def scalar_arg(self, i: int, h: History, t: int, default: float) -> float:
        if i >= len(self.args):
            return default
        arg = self.args[i]
        assert isinstance(arg, ScalarNode)
        return arg.scalar(h, t)

    def vector_arg(self, i: int, h: History, t: int) -> Vector:
        arg = self.args[i]
        assert isinstance(arg, VecNode)
        return arg.vec(h, t)


class Time(Call, ScalarNode):
    __slots__ = ()

    def scalar(self, h: History, t: int) -> float:
        return t / 1000


class Scalar(Call, ScalarNode):
    """``scalar(v)``: the value of a one-element vector, else NaN."""

    __slots__ = ()

    def scalar(self, h: History, t: int) -> float:
        vector = self.vector_arg(0, h, t)
        return vector[0][1] if len(vector) == 1 else gm.NAN


class VectorOf(Call, VecNode):
    """``vector(s)``: one element without labels."""

    __slots__ = ()

    def vec(self, h: History, t: int) -> Vector:
        return [((), self.scalar_arg(0, h, t, 0.0))]


class MathCall(Call, VecNode):
    __slots__ = ()

    def vec(self, h: History, t: int) -> Vector:
        fn = MATH[self.name]
        return check_unique([(drop_name(labels), fn(v)) for labels, v in self.vector_arg(0, h, t)])


class Round(Call, VecNode):
    __slots__ = ()

    def vec(self, h: History, t: int) -> Vector:
        to_nearest = self.scalar_arg(1, h, t, 1.0)
        vector = self.vector_arg(0, h, t)
        return check_unique([(drop_name(labels), gm.round_to(v, to_nearest)) for labels, v in vector])


class Clamp(Call, VecNode):
    """``clamp(v, min, max)`` (empty when max < min), ``clamp_min``, ``clamp_max``, with Go's NaN rules."""

    __slots__ = ()

    def vec(self, h: History, t: int) -> Vector:
        vector = self.vector_arg(0, h, t)
        if self.name == "clamp":
            lo, hi = self.scalar_arg(1, h, t, 0.0), self.scalar_arg(2, h, t, 0.0)
            if hi < lo:
                return []
            return check_unique([(drop_name(lb), gm.go_max(lo, gm.go_min(hi, v))) for lb, v in vector])
        bound = self.scalar_arg(1, h, t, 0.0)
        fn = gm.go_max if self.name == "clamp_min" else gm.go_min
        return check_unique([(drop_name(lb), fn(bound, v)) for lb, v in vector])


class Timestamp(Call, VecNode):
    """``timestamp(v)``: the sample's own time when ``v`` is a selector (parenthesised or not),
    else the evaluation time (Prometheus's evaluated vectors carry the evaluation time)."""

    __slots__ = ("own_time",)

    def __init__(self, text: str, name: str, args: tuple[Node, ...], own_time: bool) -> None:
        super().__init__(text, name, args)
        self.own_time = own_time

    def vec(self, h: History, t: int) -> Vector:
        arg = self.args[0]
        if self.own_time and isinstance(arg, Selector):
            return check_unique([(drop_name(lb), ts / 1000) for lb, ts, _ in arg.points(h, t)])
        return check_unique([(drop_name(lb), t / 1000) for lb, _ in self.vector_arg(0, h, t)])


class Absent(Call, VecNode):
    """``absent(v)``: one element, labelled from the selector's equality matchers, when v is empty."""

    __slots__ = ("labels",)

    def __init__(self, text: str, name: str, args: tuple[Node, ...], labels: Labels) -> None:
        super().__init__(text, name, args)
        self.labels = labels

    def vec(self, h: History, t: int) -> Vector:
        arg = self.args[0]
        present = bool(arg.mat(h, t)) if isinstance(arg, MatNode) else bool(self.vector_arg(0, h, t))
        return [] if present else [(self.labels, 1.0)]


class Sort(Call, VecNode):
    """``sort`` (ascending) and ``sort_desc`` (descending), NaN last in both, as Prometheus sorts."""

    __slots__ = ()

    def vec(self, h: History, t: int) -> Vector:
        vector = self.vector_arg(0, h, t)
        if self.name == "sort":
            return sorted(vector, key=lambda e: (e[1] != e[1], e[1] if e[1] == e[1] else 0.0))
        return sorted(vector, key=lambda e: (e[1] != e[1], -e[1] if e[1] == e[1] else 0.0))


class LabelReplace(Call, VecNode):
    __slots__ = ("dst", "regex", "replacement", "src")

    def __init__(
        self, text: str, name: str, args: tuple[Node, ...], dst: str, replacement: str, src: str, regex: Pattern[str]
    ) -> None:
        super().__init__(text, name, args)
        self.dst = dst
        self.replacement = replacement
        self.src = src
        self.regex = regex

    def vec(self, h: History, t: int) -> Vector:
        out = []
        fullmatch = self.regex.fullmatch
        for labels, v in self.vector_arg(0, h, t):
            value = dict(labels).get(self.src, "")
            m = fullmatch(value)
            if m is not None:
                labels = set_label(labels, self.dst, expand(self.replacement, m))
            out.append((labels, v))
        return check_unique(out)


def expand(template: str, m: Match[str]) -> str:
    """Go's ``Regexp.ExpandString``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``; a reference
    to a group that does not exist or did not match is empty; a malformed ``$`` is literal."""
    out = []
    i = 0
    n = len(template)
    while i < n:
        c = template[i]
        if c != "$":
            out.append(c)
            i += 1
            continue
        if template[i + 1 : i + 2] == "$":
            out.append("$")
            i += 2
            continue
        brace = template[i + 1 : i + 2] == "{"
        start = i + 2 if brace else i + 1
        end = start
        while end < n and (template[end].isalnum() or template[end] == "_"):
            end += 1
        name = template[start:end]
        if not name or (brace and template[end : end + 1] != "}"):
            out.append("$")
            i += 1
            continue
        i = end + 1 if brace else end
        group: str | None = None
        if name.isdigit():
            index = int(name)
            if index <= (m.re.groups or 0):
                group = m.group(index)
        elif name in m.re.groupindex:
            group = m.group(name)
        out.append(group or "")
    return "".join(out)


class LabelJoin(Call, VecNode):
    __slots__ = ("dst", "separator", "sources")

    def __init__(
        self, text: str, name: str, args: tuple[Node, ...], dst: str, separator: str, sources: tuple[str, ...]
    ) -> None:
        super().__init__(text, name, args)
        self.dst = dst
        self.separator = separator
        self.sources = sources

    def vec(self, h: History, t: int) -> Vector:
        out = []
        for labels, v in self.vector_arg(0, h, t):
            d = dict(labels)
            joined = self.separator.join(d.get(src, "") for src in self.sources)
            out.append((set_label(labels, self.dst, joined), v))
        return check_unique(out)


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
        return gm.NAN
    if q < 0:
        return -gm.INF
    if q > 1:
        return gm.INF
    buckets = sorted(buckets, key=lambda b: b[0])
    if buckets[-1][0] != gm.INF:
        return gm.NAN
    # Coalesce buckets with the same bound, then force the counts to be monotonic.
    merged: list[list[float]] = []
    for bound, count in buckets:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    highest = -gm.INF
    for bucket in merged:
        if bucket[1] > highest:
            highest = bucket[1]
        elif bucket[1] < highest:
            bucket[1] = highest
    if len(merged) < 2:
        return gm.NAN
    observations = merged[-1][1]
    if observations == 0:
        return gm.NAN
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


# Range-vector functions.


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
    n = 0.0
    sum_x = c_x = sum_y = c_y = sum_xy = c_xy = sum_x2 = c_x2 = 0.0
    first_y = vs[0]
    constant = True
    origin = ts[0]
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
        return gm.NAN if first_y in (gm.INF, -gm.INF) else 0.0
    sum_x += c_x
    sum_y += c_y
    sum_xy += c_xy
    sum_x2 += c_x2
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    return gm.div(cov_xy, var_x)


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
        if mean in (gm.INF, -gm.INF):
            if v in (gm.INF, -gm.INF) and (mean > 0) == (v > 0):
                continue
            if v not in (gm.INF, -gm.INF) and v == v:
                continue
        mean, c = gm.kahan_inc(v / count - mean / count, mean, c)
    if mean in (gm.INF, -gm.INF):
        return mean
    return mean + c


def _sum_over_time(vs: list[float]) -> float:
    total = c = 0.0
    for v in vs:
        total, c = gm.kahan_inc(v, total, c)
    if total in (gm.INF, -gm.INF):
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
# Range functions that give nothing for a series with fewer than two samples in its window.
TWO_SAMPLE_FUNCTIONS = frozenset(("rate", "irate", "increase", "delta", "idelta", "deriv"))
RANGE_FUNCTIONS = frozenset(
    ("rate", "irate", "increase", "delta", "idelta", "deriv", "quantile_over_time", "absent_over_time", *OVER_TIME)
)


class RangeCall(Call, VecNode):
    """A function of one range vector, per series, evaluated over the samples in its window."""

    __slots__ = ("selector",)

    def __init__(self, text: str, name: str, args: tuple[Node, ...], selector: RangeSelector) -> None:
        super().__init__(text, name, args)
        self.selector = selector

    def vec(self, h: History, t: int) -> Vector:
        name = self.name
        sel = self.selector
        end = t - sel.selector.offset_ms
        start = end - sel.range_ms
        spans = sel.spans(h, t)
        if name in OVER_TIME:
            fn = OVER_TIME[name]
            if name == "last_over_time":  # keeps the name: it "acts like offset"
                return check_unique([(labels, vs[hi - 1]) for labels, _ts, vs, _lo, hi in spans])
            if name == "count_over_time":
                return check_unique([(drop_name(labels), float(hi - lo)) for labels, _ts, _vs, lo, hi in spans])
            return check_unique([(drop_name(labels), fn(vs[lo:hi])) for labels, _ts, vs, lo, hi in spans])
        if name == "quantile_over_time":
            q = self.scalar_arg(0, h, t, 0.0)
            return check_unique([(drop_name(labels), quantile(q, vs[lo:hi])) for labels, _ts, vs, lo, hi in spans])
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
