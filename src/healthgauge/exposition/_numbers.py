"""Values and timestamps exactly as Prometheus 2.42 reads them.

Prometheus parses a value with Go's ``strconv.ParseFloat`` after refusing ``p``, ``P`` and ``_``
(``model/textparse``: "keep to pre-Go 1.13 float formats"). What that accepts: an optional sign,
decimal digits with an optional point and an optional exponent (``1``, ``-2.5``, ``.5``, ``5.``,
``1e-3``); ``NaN`` without a sign; ``Inf`` and ``Infinity`` with or without a sign; all spellings
case-insensitive. It refuses hexadecimal, digit separators, surrounding whitespace and values
beyond float64's range (``1e400``); values too small underflow to zero. Python's ``float`` accepts
more (whitespace including CR, ``_``, signed NaN, Unicode digits), so every token is checked here.
"""

from __future__ import annotations

NUMERIC_CHARS = "0123456789.eE+-"
_INF = float("inf")
_SPECIALS = {
    "nan": float("nan"),
    "inf": _INF,
    "+inf": _INF,
    "-inf": -_INF,
    "infinity": _INF,
    "+infinity": _INF,
    "-infinity": -_INF,
}
_INT64_MAX = 2**63 - 1


def go_float(token: str) -> float | None:
    """The float Prometheus reads from ``token``, or ``None`` when Prometheus refuses it."""
    if token.strip(NUMERIC_CHARS):
        return _SPECIALS.get(token.lower())
    try:
        value = float(token)
    except ValueError:
        return None
    if value == _INF or value == -_INF:
        return None  # out of float64's range: Go reports ErrRange, Prometheus rejects the page
    return value


def float_problem(token: str, what: str = "value") -> str:
    """Why :func:`go_float` refused ``token``, in words for an error message."""
    if not token:
        return f"missing {what}"
    if "\r" in token:
        return f"carriage return in {what} (CRLF line endings are not valid here; Prometheus rejects the page)"
    if not token.strip(NUMERIC_CHARS):
        try:
            float(token)
        except ValueError:
            return f"invalid {what} {token!r}: expected a float such as 1, -2.5e3, NaN or +Inf"
        return f"{what} {token!r} is out of the float64 range"
    if token.lower() in ("+nan", "-nan"):
        return f"invalid {what} {token!r}: NaN takes no sign"
    return f"invalid {what} {token!r}: expected a float such as 1, -2.5e3, NaN or +Inf"


def text_timestamp(token: str) -> float | None:
    """Seconds from a Prometheus text timestamp: integer milliseconds, digits only, within int64."""
    if token.isascii() and token.isdigit():
        if len(token) > 18:  # maybe beyond int64; also keeps int() clear of its 4300-digit limit
            token = token.lstrip("0") or "0"
            if len(token) > 19 or int(token) > _INT64_MAX:
                return None
        return int(token) / 1000
    return None


def text_timestamp_problem(token: str) -> str:
    if token.isascii() and token.isdigit():
        return f"timestamp {token} is out of range (int64 milliseconds)"
    if token[:1] == "-":
        return f"invalid timestamp {token!r}: Prometheus refuses negative timestamps in the text format"
    if "." in token or "e" in token.lower():
        return f"invalid timestamp {token!r}: the text format takes integer milliseconds"
    return f"invalid timestamp {token!r}: expected integer milliseconds"


def openmetrics_timestamp(token: str) -> float | None:
    """Seconds from an OpenMetrics timestamp, truncated to Prometheus's millisecond.

    Prometheus reads the float seconds and stores ``int64(seconds * 1000)``: a truncation, so
    ``1700000000.001`` may land on the millisecond before. We return that millisecond / 1000, so
    a history loaded here lines up with the one ``promtool tsdb create-blocks-from openmetrics``
    builds from the same file.
    """
    seconds = go_float(token)
    if seconds is None or seconds != seconds:
        return None
    millis = seconds * 1000
    if not -_INT64_MAX <= millis <= _INT64_MAX:
        return None
    return int(millis) / 1000


def openmetrics_timestamp_problem(token: str, what: str = "timestamp") -> str:
    seconds = go_float(token)
    if seconds is None:
        return float_problem(token, what)
    if seconds != seconds:
        return f"invalid {what} {token!r}: NaN is not a time"
    return f"{what} {token!r} is out of range (int64 milliseconds)"
