"""Aggregation operators, as Prometheus 2.42's ``aggregation`` in ``promql/engine.go``; loaded only
by expressions that aggregate (``_functions`` lists the operators).

Groups come out in the order their first element was seen. ``by`` keeps only the listed labels;
``without`` drops the listed labels and ``__name__``. ``topk``/``bottomk`` keep whole series (name
included), ordered within each group (descending for topk, ascending for bottomk, NaN last).
"""

from __future__ import annotations

import math
from _operator import itemgetter

from healthgauge.promql import _gomath as gm
from healthgauge.promql._errors import EvaluationError
from healthgauge.promql._floats import INF, NAN, format_float
from healthgauge.promql._nodes import Node, ScalarNode, StrNode, VecNode, set_label, valid_label_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from healthgauge.promql._history import History, Labels
    from healthgauge.promql._nodes import Vector

# int64 bounds as Prometheus checks them before converting topk's k.
_MAX_INT64 = 9223372036854774784.0
_MIN_INT64 = -9223372036854775808.0


def _sum(values: list[float]) -> float:
    total = 0.0
    for v in values:
        total += v
    return total


def _avg(values: list[float]) -> float:
    # Incremental mean, dividing each side to avoid overflow, with Prometheus's Inf handling.
    mean = values[0]
    count = 1.0
    for v in values[1:]:
        count += 1
        if mean in (INF, -INF):
            if v in (INF, -INF) and (mean > 0) == (v > 0):
                continue
            if v not in (INF, -INF) and v == v:
                continue
        mean += v / count - mean / count
    return mean


def _min(values: list[float]) -> float:
    best = values[0]
    for v in values[1:]:
        if best > v or best != best:
            best = v
    return best


def _max(values: list[float]) -> float:
    best = values[0]
    for v in values[1:]:
        if best < v or best != best:
            best = v
    return best


def _stdvar(values: list[float]) -> float:
    count = 1.0
    mean = values[0]
    acc = 0.0
    for v in values[1:]:
        count += 1
        delta = v - mean
        mean += delta / count
        acc += delta * (v - mean)
    return acc / count


def _stddev(values: list[float]) -> float:
    return gm.sqrt(_stdvar(values))


def quantile(q: float, values: list[float]) -> float:
    """Prometheus's ``quantile``: linear interpolation between the closest ranks; NaN sorts first."""
    if not values or q != q:
        return NAN
    if q < 0:
        return -INF
    if q > 1:
        return INF
    ordered = sorted(values, key=lambda v: (v == v, v if v == v else 0.0))
    n = float(len(ordered))
    rank = q * (n - 1)
    lower = max(0.0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[int(lower)] * (1 - weight) + ordered[int(upper)] * weight


_SIMPLE: dict[str, Callable[[list[float]], float]] = {
    "sum": _sum,
    "avg": _avg,
    "min": _min,
    "max": _max,
    "count": lambda values: float(len(values)),
    "group": lambda values: 1.0,
    "stdvar": _stdvar,
    "stddev": _stddev,
}


_ORDER_SENSITIVE = frozenset(("sum", "avg", "stdvar", "stddev"))
_labels_of = itemgetter(0)


class Aggregate(VecNode):
    __slots__ = ("by", "grouping", "inner", "op", "param")

    def __init__(
        self, text: str, op: str, inner: VecNode, param: Node | None, by: bool, grouping: tuple[str, ...]
    ) -> None:
        super().__init__(text)
        self.op = op
        self.inner = inner
        self.param = param
        self.by = by
        self.grouping = frozenset(grouping)

    def children(self) -> tuple[Node, ...]:
        return (self.inner,) if self.param is None else (self.param, self.inner)

    def group_key(self) -> Callable[[Labels], Labels]:
        names = self.grouping
        if self.by:
            return lambda labels: tuple(p for p in labels if p[0] in names)
        return lambda labels: tuple(p for p in labels if p[0] not in names and p[0] != "__name__")

    def vec(self, h: History, t: int) -> Vector:
        param_value: float | str | None = None
        if isinstance(self.param, ScalarNode):
            param_value = self.param.scalar(h, t)
        elif isinstance(self.param, StrNode):
            param_value = self.param.string(h, t)
        vector = self.inner.vec(h, t)
        op = self.op
        if op in ("topk", "bottomk"):
            assert isinstance(param_value, float)
            return self._select(vector, param_value)
        key = self.group_key()
        if op == "count_values":
            assert isinstance(param_value, str)
            return self._count_values(vector, param_value)
        if op in _ORDER_SENSITIVE and len(vector) > 1:
            # Prometheus sums in its storage's order, by label set: float addition is not associative
            # (stdvar of two series can be 0 one way and 4e-31 the other).
            vector = sorted(vector, key=_labels_of)
        groups: dict[Labels, list[float]] = {}
        for labels, v in vector:
            k = key(labels)
            group = groups.get(k)
            if group is None:
                groups[k] = [v]
            else:
                group.append(v)
        if op == "quantile":
            assert isinstance(param_value, float)
            return [(k, quantile(param_value, values)) for k, values in groups.items()]
        fn = _SIMPLE[op]
        return [(k, fn(values)) for k, values in groups.items()]

    def _select(self, vector: Vector, k_param: float) -> Vector:
        if not (_MIN_INT64 <= k_param <= _MAX_INT64):
            raise EvaluationError(f"Scalar value {format_float(k_param)} overflows int64")
        k = int(k_param)
        if k < 1:
            return []
        key = self.group_key()
        groups: dict[Labels, Vector] = {}
        for element in vector:
            groups.setdefault(key(element[0]), []).append(element)
        top = self.op == "topk"
        out: Vector = []
        for members in groups.values():
            if top:
                members.sort(key=lambda e: (e[1] != e[1], -e[1] if e[1] == e[1] else 0.0))
            else:
                members.sort(key=lambda e: (e[1] != e[1], e[1] if e[1] == e[1] else 0.0))
            out.extend(members[:k])
        return out

    def _count_values(self, vector: Vector, label: str) -> Vector:
        if not valid_label_name(label):
            raise EvaluationError(f"invalid label name {label!r}")
        names = self.grouping | {label} if self.by else self.grouping
        by = self.by
        counts: dict[Labels, float] = {}
        for labels, v in vector:
            relabelled = set_label(labels, label, format_float(v))
            if by:
                k = tuple(p for p in relabelled if p[0] in names)
            else:
                k = tuple(p for p in relabelled if p[0] not in names and p[0] != "__name__")
            counts[k] = counts.get(k, 0.0) + 1.0
        return list(counts.items())
