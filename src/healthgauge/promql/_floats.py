"""Go's float64 semantics that need no ``math``: the constants, division, and Go's float formatting.

Every condition divides or prints a value; few take a logarithm. So what every evaluation needs is
here, and ``_gomath`` (which imports the ``math`` extension module, ~0.2 ms on the check path) holds
the rest and is loaded only by the operators and functions that need it.
"""

from __future__ import annotations

INF = float("inf")
NAN = float("nan")


def div(x: float, y: float) -> float:
    """Go's float division: ±Inf for a non-zero dividend over ±0 (sign of both), NaN for 0/0 and NaN/0."""
    try:
        return x / y
    except ZeroDivisionError:
        if x != x or x == 0:
            return NAN
        negative = (x < 0) != (y.hex()[0] == "-")  # the sign of the zero divisor counts, as in Go
        return -INF if negative else INF


def format_float(v: float) -> str:
    """Go's ``strconv.FormatFloat(v, 'f', -1, 64)``: the shortest digits that round-trip, never an
    exponent; ``NaN``, ``+Inf``, ``-Inf``. Prometheus's API values and count_values labels use it."""
    if v != v:
        return "NaN"
    if v == INF:
        return "+Inf"
    if v == -INF:
        return "-Inf"
    r = repr(v)
    if "e" not in r:
        return r[:-2] if r.endswith(".0") else r
    mantissa, _, exponent = r.partition("e")
    sign = ""
    if mantissa[0] == "-":
        sign, mantissa = "-", mantissa[1:]
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + int(exponent)
    if point <= 0:
        text = "0." + "0" * -point + digits
    elif point >= len(digits):
        text = digits + "0" * (point - len(digits))
    else:
        text = digits[:point] + "." + digits[point:]
    return sign + text


def format_json(v: float) -> str:
    """A value as Prometheus's HTTP API writes it (``marshalFloatJSON`` in ``web/api/v1``): Go's
    ``'f'`` format, but ``'e'`` below 1e-6 and from 1e21 on (``1e-300``, ``1.5e+21``).

    In that range Python's ``repr`` already writes the shortest digits in Go's ``'e'`` form (an
    exponent of at least two digits, with its sign).
    """
    magnitude = abs(v)
    if magnitude != 0 and (magnitude < 1e-6 or 1e21 <= magnitude < INF):
        return repr(v)
    return format_float(v)


def format_human(v: float) -> str:
    """A value for people: integers whole, others to 6 significant digits, Prometheus's NaN/±Inf."""
    if v != v or v in (INF, -INF):
        return format_float(v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"
