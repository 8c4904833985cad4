"""One parsed sample: a tuple subclass, because a page of 100k series builds 100k of them.

A slotted class with ``__init__`` costs about three times as much to build as a tuple; a namedtuple
would import ``collections`` (keyword, operator, reprlib, heapq) on the check path.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping


class Sample(tuple[str, "Mapping[str, str]", float, "float | None"]):
    """A series' value as the page states it.

    - ``name``: the series name as Prometheus stores it (``http_requests_total``, ``rpc_seconds_bucket``);
    - ``labels``: label names to values, in page order, never ``__name__``; a label whose value is
      empty is absent, as in Prometheus. Treat it as read-only: it may be shared;
    - ``value``: the float value (``nan``, ``inf`` and ``-inf`` included);
    - ``timestamp``: seconds since the epoch, or ``None`` when the line has none. It is always
      Prometheus's integer millisecond divided by 1000: the text format's milliseconds, and an
      OpenMetrics timestamp truncated to the millisecond as Prometheus truncates it.

    Samples compare equal field by field (so also to plain 4-tuples); they are not hashable,
    because ``labels`` is a dict.
    """

    __slots__ = ()

    def __new__(cls, name: str, labels: Mapping[str, str], value: float, timestamp: float | None = None) -> Sample:
        return tuple.__new__(cls, (name, labels, value, timestamp))

    @property
    def name(self) -> str:
        return self[0]

    @property
    def labels(self) -> Mapping[str, str]:
        return self[1]

    @property
    def value(self) -> float:
        return self[2]

    @property
    def timestamp(self) -> float | None:
        return self[3]

    def __repr__(self) -> str:
        return f"Sample(name={self[0]!r}, labels={dict(self[1])!r}, value={self[2]!r}, timestamp={self[3]!r})"

    def __getnewargs__(self) -> tuple[str, Mapping[str, str], float, float | None]:
        return (self[0], self[1], self[2], self[3])
