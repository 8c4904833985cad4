"""``absent()``, ``absent_over_time()``, ``sort()``, ``sort_desc()``, ``timestamp()``, ``vector()``
and ``scalar()``: functions of a whole vector, or between vectors and scalars."""

from __future__ import annotations

from healthgauge.promql._floats import NAN
from healthgauge.promql._nodes import Call, MatNode, Node, ScalarNode, Selector, VecNode, check_unique, drop_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql._history import History, Labels
    from healthgauge.promql._nodes import Vector


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


class Scalar(Call, ScalarNode):
    """``scalar(v)``: the value of a one-element vector, else NaN."""

    __slots__ = ()

    def scalar(self, h: History, t: int) -> float:
        vector = self.vector_arg(0, h, t)
        return vector[0][1] if len(vector) == 1 else NAN


class VectorOf(Call, VecNode):
    """``vector(s)``: one element without labels."""

    __slots__ = ()

    def vec(self, h: History, t: int) -> Vector:
        return [((), self.scalar_arg(0, h, t, 0.0))]


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


FUNCTIONS: dict[str, type[Call]] = {
    "absent": Absent,
    "absent_over_time": Absent,
    "sort": Sort,
    "sort_desc": Sort,
    "timestamp": Timestamp,
    "vector": VectorOf,
    "scalar": Scalar,
}
