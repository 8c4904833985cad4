"""The date functions: ``year``, ``month``, ``day_of_month``, ``day_of_year``, ``day_of_week``,
``days_in_month``, ``hour``, ``minute``; of the evaluation time without an argument (one sample,
no labels), else of each value read as Unix seconds, in UTC.

As Prometheus 2.42 (``dateWrapper`` in ``promql/functions.go``, built with Go 1.19): a value is
truncated to an int64 the way Go converts on amd64 (NaN, ±Inf and out-of-range values become the
smallest int64), and the date is Go's ``time.Unix(sec, 0).UTC()``, whose seconds wrap around in
64 bits. The calendar arithmetic below is Go 1.19's ``absDate`` over its "absolute" seconds, with
Python's proleptic Gregorian calendar doing the day-in-400-years part.
"""

from __future__ import annotations

from datetime import date

from healthgauge.promql._nodes import Call, VecNode, check_unique, drop_name

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from healthgauge.promql._history import History
    from healthgauge.promql._nodes import Vector

_INT64_MIN = -(1 << 63)
_MASK = (1 << 64) - 1
_ABSOLUTE_ZERO_YEAR = -292277022399
_UNIX_TO_INTERNAL = (1969 * 365 + 1969 // 4 - 1969 // 100 + 1969 // 400) * 86400
_INTERNAL_TO_ABSOLUTE = 292277022400 * 3652425 * 86400 // 10000  # -(absoluteZeroYear - internalYear) * 365.2425 days
_DAYS_PER_400_YEARS = 146097


def go_int64(v: float) -> int:
    """Go's ``int64(v)`` on amd64: truncation toward zero; NaN, ±Inf and overflow give the smallest int64."""
    if v != v or v in (float("inf"), float("-inf")) or not (-(2.0**63) <= v < 2.0**63):
        return _INT64_MIN
    return int(v)


class GoTime:
    """The fields of Go's ``time.Unix(sec, 0).UTC()`` the date functions read."""

    __slots__ = ("day", "hour", "minute", "month", "weekday", "yday", "year")

    def __init__(self, sec: int) -> None:
        absolute = (sec + _UNIX_TO_INTERNAL + _INTERNAL_TO_ABSOLUTE) & _MASK
        days, seconds = divmod(absolute, 86400)
        cycles, rest = divmod(days, _DAYS_PER_400_YEARS)
        d = date.fromordinal(rest + 1)  # Python's year 1 starts a 400-year cycle, as Go's absolute year does
        self.year = _ABSOLUTE_ZERO_YEAR + 400 * cycles + d.year - 1
        self.month = d.month
        self.day = d.day
        self.yday = d.timetuple().tm_yday
        self.hour, self.minute = seconds // 3600, seconds % 3600 // 60
        self.weekday = ((absolute + 86400) & _MASK) % (7 * 86400) // 86400  # Go's absWeekday: day 0 is a Monday


def _days_in_month(g: GoTime) -> int:
    if g.month == 2:
        y = g.year
        return 29 if y % 4 == 0 and (y % 100 != 0 or y % 400 == 0) else 28
    return 30 if g.month in (4, 6, 9, 11) else 31


DATE: dict[str, Callable[[GoTime], int]] = {
    "year": lambda g: g.year,
    "month": lambda g: g.month,
    "day_of_month": lambda g: g.day,
    "day_of_year": lambda g: g.yday,
    "day_of_week": lambda g: g.weekday,
    "days_in_month": _days_in_month,
    "hour": lambda g: g.hour,
    "minute": lambda g: g.minute,
}


class DateCall(Call, VecNode):
    __slots__ = ()

    def vec(self, h: History, t: int) -> Vector:
        fn = DATE[self.name]
        if not self.args:
            return [((), float(fn(GoTime(int(t / 1000)))))]  # Go's enh.Ts/1000 truncates toward zero
        return check_unique([(drop_name(lb), float(fn(GoTime(go_int64(v))))) for lb, v in self.vector_arg(0, h, t)])


FUNCTIONS: dict[str, type[Call]] = dict.fromkeys(DATE, DateCall)
