"""Go's float64 semantics for the operations PromQL performs with ``math``.

Prometheus is written in Go: ``math.Mod`` and ``math.Pow`` return NaN where Python raises,
``math.Max`` prefers NaN. Where Python's ``math`` raises or differs, these helpers answer what Go's
``math`` package answers, so results match a real Prometheus. Division and formatting, which every
evaluation needs, are in ``_floats`` without ``math``; this module loads with the operators
(``%``, ``^``, ``atan2``) and functions that use it.
"""

from __future__ import annotations

import math

from healthgauge.promql._floats import INF, NAN, div

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


def mod(x: float, y: float) -> float:
    """Go ``math.Mod``: NaN for an infinite dividend or a zero divisor; sign of the dividend."""
    try:
        return math.fmod(x, y)
    except ValueError:
        return NAN


def _is_odd_int(y: float) -> bool:
    return y == y and abs(y) != INF and y == int(y) and int(y) % 2 == 1


def power(x: float, y: float) -> float:
    """Go ``math.Pow``: NaN for a negative base with a fractional exponent, ±Inf on overflow, and
    Go's own arithmetic for the rest (``Frexp`` and repeated squaring for the integer part of the
    exponent, ``Exp(yf * Log(x))`` for its fraction), so that ``10 ^ 80`` is the float Go computes,
    not the correctly rounded one of C's ``pow`` (an ulp apart, which ``sin`` of it magnifies)."""
    if y == 0 or x == 1:
        return 1.0
    if y == 1:
        return x
    if x != x or y != y:
        return NAN
    if x == 0 or y in (INF, -INF) or x in (INF, -INF) or y in (0.5, -0.5):
        return _c_power(x, y)
    yf, yi = math.modf(abs(y))
    if yf != 0 and x < 0:
        return NAN
    if yi >= 2.0**63:
        if x == -1:
            return 1.0
        return 0.0 if (abs(x) < 1) == (y > 0) else INF
    a1 = 1.0
    ae = 0
    if yf != 0:
        if yf > 0.5:
            yf -= 1
            yi += 1
        a1 = math.exp(yf * math.log(x))
    x1, xe = math.frexp(x)
    i = int(yi)
    while i != 0:
        if xe < -(1 << 12) or xe > (1 << 12):
            ae += xe  # catastrophic overflow: let ldexp handle it
            break
        if i & 1:
            a1 *= x1
            ae += xe
        x1 *= x1
        xe <<= 1
        if x1 < 0.5:
            x1 += x1
            xe -= 1
        i >>= 1
    if y < 0:
        a1 = 1 / a1
        ae = -ae
    return _ldexp(a1, ae)


def _ldexp(frac: float, exp: int) -> float:
    """Go ``math.Ldexp``: ±Inf on overflow, ±0 on underflow (Python raises on overflow)."""
    try:
        return math.ldexp(frac, exp)
    except OverflowError:
        return math.copysign(INF, frac)


def _c_power(x: float, y: float) -> float:
    """The special cases of ``Pow`` (zero, infinities, square roots), where C's ``pow`` and Go agree."""
    if y == 0.5 and x not in (INF, -INF) and x != 0:
        return sqrt(x)
    if y == -0.5 and x not in (INF, -INF) and x != 0:
        return div(1.0, sqrt(x))
    try:
        return math.pow(x, y)
    except OverflowError:
        return -INF if x < 0 and _is_odd_int(y) else INF
    except ValueError:
        if x == 0:  # y < 0: Pow(±0, y) is ±Inf for odd integer y, +Inf otherwise.
            return math.copysign(INF, x) if _is_odd_int(y) else INF
        return NAN


def go_max(x: float, y: float) -> float:
    if x == INF or y == INF:
        return INF
    if x != x or y != y:
        return NAN
    if x == 0 and x == y:
        return y if math.copysign(1.0, x) < 0 else x
    return x if x > y else y


def go_min(x: float, y: float) -> float:
    if x == -INF or y == -INF:
        return -INF
    if x != x or y != y:
        return NAN
    if x == 0 and x == y:
        return x if math.copysign(1.0, x) < 0 else y
    return x if x < y else y


def floor(x: float) -> float:
    if x != x or x in (INF, -INF):
        return x
    r = float(math.floor(x))
    return math.copysign(0.0, x) if r == 0 else r


def ceil(x: float) -> float:
    if x != x or x in (INF, -INF):
        return x
    r = float(math.ceil(x))
    return math.copysign(0.0, x) if r == 0 else r


def _log(fn: Callable[[float], float], x: float) -> float:
    if x != x or x == INF:
        return x
    if x == 0:
        return -INF
    if x < 0:
        return NAN
    return fn(x)


def ln(x: float) -> float:
    return _log(math.log, x)


def log2(x: float) -> float:
    return _log(math.log2, x)


def log10(x: float) -> float:
    return _log(math.log10, x)


def sqrt(x: float) -> float:
    if x < 0:
        return NAN
    return math.sqrt(x)


def exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return INF


def sgn(x: float) -> float:
    if x < 0:
        return -1.0
    if x > 0:
        return 1.0
    return x


def round_to(x: float, to_nearest: float) -> float:
    """PromQL ``round``: ``floor(v / to_nearest + 0.5) * to_nearest`` computed as Prometheus does
    (halves round up, also for negatives: round(-2.5) is -2)."""
    inverse = div(1.0, to_nearest)
    return div(floor(x * inverse + 0.5), inverse)


def kahan_inc(inc: float, total: float, c: float) -> tuple[float, float]:
    """One step of Neumaier's compensated sum, as Prometheus's ``kahanSumInc``."""
    t = total + inc
    if abs(total) >= abs(inc):
        c += (total - t) + inc
    else:
        c += (inc - t) + total
    return t, c


def atan2(y: float, x: float) -> float:
    return math.atan2(y, x)
