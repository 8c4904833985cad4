"""``time()``, ``timestamp()``, ``vector()`` and ``scalar()``: the functions between times, scalars
and vectors. ``time()`` is in most freshness conditions, so this module is small and loads nothing
else (``_functions`` names the modules of the others)."""

from __future__ import annotations

from healthgauge.promql._floats import NAN
from healthgauge.promql._functions import Call
from healthgauge.promql._nodes import Node, ScalarNode, Selector, VecNode, check_unique, drop_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql._history import History
    from healthgauge.promql._nodes import Vector


class Time(Call, ScalarNode):
    __slots__ = ()

    def scalar(self, h: History, t: int) -> float:
        return t / 1000


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


FUNCTIONS: dict[str, type[Call]] = {"time": Time, "timestamp": Timestamp, "vector": VectorOf, "scalar": Scalar}
