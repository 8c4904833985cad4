"""The math functions: ``abs``, ``ceil``, ``floor``, ``exp``, ``sqrt``, ``ln``, ``log2``,
``log10``, ``sgn``, ``round``, ``clamp``, ``clamp_min``, ``clamp_max``, with Go's float semantics
(``_gomath``)."""

from __future__ import annotations

from healthgauge.promql import _gomath as gm
from healthgauge.promql._nodes import Call, VecNode, check_unique, drop_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from healthgauge.promql._history import History
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


FUNCTIONS: dict[str, type[Call]] = {
    **dict.fromkeys(MATH, MathCall),
    "round": Round,
    **dict.fromkeys(("clamp", "clamp_min", "clamp_max"), Clamp),
}
