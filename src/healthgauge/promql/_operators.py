"""The operator nodes few conditions use, loaded only by the expressions that have them: unary minus,
operations between two scalars, and arithmetic or comparison between two vectors matched element by
element (``a / on(job) b``). A comparison with a number and the set operators are in ``_nodes``.
"""

from __future__ import annotations

from healthgauge.promql._errors import EvaluationError
from healthgauge.promql._nodes import (
    COMPARISON,
    DROPS_NAME,
    Binary,
    Node,
    ScalarNode,
    VecNode,
    VectorPair,
    arithmetic,
    check_unique,
    drop_name,
    format_labels,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql._history import History, Labels
    from healthgauge.promql._nodes import Vector


# Unary minus.


class NegVector(VecNode):
    __slots__ = ("arg",)

    def __init__(self, text: str, arg: VecNode) -> None:
        super().__init__(text)
        self.arg = arg

    def children(self) -> tuple[Node, ...]:
        return (self.arg,)

    def vec(self, h: History, t: int) -> Vector:
        return check_unique([(drop_name(labels), -v) for labels, v in self.arg.vec(h, t)])


class NegScalar(ScalarNode):
    __slots__ = ("arg",)

    def __init__(self, text: str, arg: ScalarNode) -> None:
        super().__init__(text)
        self.arg = arg

    def children(self) -> tuple[Node, ...]:
        return (self.arg,)

    def scalar(self, h: History, t: int) -> float:
        return -self.arg.scalar(h, t)


class ScalarBinary(Binary, ScalarNode):
    __slots__ = ()

    def scalar(self, h: History, t: int) -> float:
        assert isinstance(self.lhs, ScalarNode)
        assert isinstance(self.rhs, ScalarNode)
        a, b = self.lhs.scalar(h, t), self.rhs.scalar(h, t)
        if self.op in COMPARISON:  # the parser allows comparisons of scalars only with bool
            return 1.0 if COMPARISON[self.op](a, b) else 0.0
        return arithmetic(self.op)(a, b)


class VectorBinary(VectorPair):
    """Two vectors matched element by element (Prometheus's ``VectorBinop``); both sides are
    evaluated even when one is empty: its errors count (Prometheus)."""

    __slots__ = ()

    def combine(self, lhs: Vector, rhs: Vector) -> Vector:
        if not lhs or not rhs:
            return []
        matching = self.matching
        card = matching.card
        sig = matching.signature()
        swapped = card == "one-to-many"
        if swapped:
            lhs, rhs = rhs, lhs
        one: dict[Labels, tuple[Labels, float]] = {}
        for labels, v in rhs:
            key = sig(labels)
            if key in one:
                side = "left" if swapped else "right"
                raise EvaluationError(
                    f"found duplicate series for the match group {format_labels(key)} on the {side} hand-side "
                    f"of the operation: [{format_labels(labels)}, {format_labels(one[key][0])}];"
                    "many-to-many matching not allowed: matching labels must be unique on one side"
                )
            one[key] = (labels, v)
        op = self.op
        comparison = op in COMPARISON
        cmp = COMPARISON.get(op)
        arith = None if comparison else arithmetic(op)
        bool_ = self.bool_
        matched: dict[Labels, set[Labels] | None] = {}
        out: Vector = []
        for labels, v in lhs:
            key = sig(labels)
            other = one.get(key)
            if other is None:
                continue
            vl, vr = (other[1], v) if swapped else (v, other[1])
            if comparison:
                assert cmp is not None
                keep = cmp(vl, vr)
                value = vl
                if bool_:
                    value = 1.0 if keep else 0.0
                elif not keep:
                    continue
            else:
                assert arith is not None
                value = arith(vl, vr)
            metric = self.result_labels(labels, other[0], op not in DROPS_NAME)
            if bool_:
                metric = drop_name(metric)
            if card == "one-to-one":
                if key in matched:
                    raise EvaluationError(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                    )
                matched[key] = None
            else:
                seen = matched.get(key)
                if seen is None:
                    seen = matched[key] = set()
                elif metric in seen:
                    raise EvaluationError("multiple matches for labels: grouping labels must ensure unique matches")
                seen.add(metric)
            out.append((metric, value))
        return check_unique(out)

    def result_labels(self, labels: Labels, one_side: Labels, keep_name: bool) -> Labels:
        """Prometheus's ``resultMetric``: the many side's labels, less the name for arithmetic,
        narrowed by ``on``/``ignoring`` for one-to-one, plus ``group_x(...)`` labels of the one side."""
        matching = self.matching
        if not matching.include and matching.card == "one-to-one" and not matching.on and not matching.labels:
            return labels if keep_name else drop_name(labels)
        d = dict(labels)
        if not keep_name:
            d.pop("__name__", None)
        if matching.card == "one-to-one":
            if matching.on:
                d = {k: v for k, v in d.items() if k in matching.labels}
            else:
                for name in matching.labels:
                    d.pop(name, None)
        if matching.include:
            other = dict(one_side)
            for name in matching.include:
                value = other.get(name, "")
                if value:
                    d[name] = value
                else:
                    d.pop(name, None)
        return tuple(sorted(d.items()))
