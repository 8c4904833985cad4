"""The trigonometric functions (``sin`` ... ``atanh``), ``deg``, ``rad`` and ``pi``, with Go's
float semantics: where Python's ``math`` raises (``sin(Inf)``, ``acos(2)``, ``cosh(1000)``,
``atanh(1)``), Go's ``math`` answers NaN or an infinity, and so does Prometheus."""

from __future__ import annotations

import math

from healthgauge.promql._floats import INF, NAN
from healthgauge.promql._nodes import Call, ScalarNode, VecNode, check_unique, drop_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from healthgauge.promql._history import History
    from healthgauge.promql._nodes import Vector


def _atanh(x: float) -> float:
    if x == 1:
        return INF
    if x == -1:
        return -INF
    return math.atanh(x)


def _overflow(fn: Callable[[float], float], x: float) -> float:
    """``cosh``/``sinh`` overflow to an infinity of the sign Go gives (cosh: +Inf; sinh: sign of x)."""
    try:
        return fn(x)
    except OverflowError:
        return INF if fn is math.cosh or x > 0 else -INF


def go(fn: Callable[[float], float]) -> Callable[[float], float]:
    """``fn`` as Go's ``math`` runs it: NaN where Python raises ValueError (domain errors)."""

    def run(x: float) -> float:
        if x != x:
            return x
        try:
            return _overflow(fn, x)
        except ValueError:
            return NAN

    return run


TRIG: dict[str, Callable[[float], float]] = {
    "sin": go(math.sin),
    "cos": go(math.cos),
    "tan": go(math.tan),
    "asin": go(math.asin),
    "acos": go(math.acos),
    "atan": go(math.atan),
    "sinh": go(math.sinh),
    "cosh": go(math.cosh),
    "tanh": go(math.tanh),
    "asinh": go(math.asinh),
    "acosh": go(math.acosh),
    "atanh": go(_atanh),
    "rad": lambda v: v * math.pi / 180,
    "deg": lambda v: v * 180 / math.pi,
}


class TrigCall(Call, VecNode):
    __slots__ = ()

    def vec(self, h: History, t: int) -> Vector:
        fn = TRIG[self.name]
        return check_unique([(drop_name(labels), fn(v)) for labels, v in self.vector_arg(0, h, t)])


class Pi(Call, ScalarNode):
    __slots__ = ()

    def scalar(self, h: History, t: int) -> float:
        return math.pi


FUNCTIONS: dict[str, type[Call]] = {**dict.fromkeys(TRIG, TrigCall), "pi": Pi}
