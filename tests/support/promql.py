"""Build evaluator inputs the way Prometheus's own PromQL tests do (``promql/testdata/*.test``).

    store = load("1m", 'http_requests{job="api"} 0+10x10', "app_state 1 1 stale")

loads samples every interval from time 0: ``a+bxn`` expands to n+1 values a, a+b, ..., ``_`` skips
a step, ``stale`` writes a staleness marker. ``S(...)`` is one sample as the exposition parser gives it.
"""

from __future__ import annotations

from collections.abc import Mapping

from healthgauge.promql import History
from healthgauge.promql._history import STALE, Series, _key


class S:
    """A sample with the exposition parser's attributes: name, labels, value, timestamp (s or None)."""

    __slots__ = ("labels", "name", "timestamp", "value")

    def __init__(self, name: str, value: float, timestamp: float | None = None, **labels: str) -> None:
        self.name = name
        self.value = float(value)
        self.timestamp = timestamp
        self.labels: Mapping[str, str] = labels

    def __repr__(self) -> str:
        return f"S({self.name}, {self.labels}, {self.value}, {self.timestamp})"


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> float:
    for unit in ("ms", "s", "m", "h"):
        if duration.endswith(unit):
            return float(duration[: -len(unit)]) * _UNITS[unit]
    return float(duration)


def split_series(text: str) -> tuple[str, dict[str, str], list[str]]:
    """``name{a="b",c="d"} values...`` -> name, labels, value tokens (label values without commas)."""
    if "{" in text.split(" ", 1)[0] or text.startswith("{"):
        head, _, rest = text.partition("}")
        name, _, inner = head.partition("{")
        labels = {}
        for part in filter(None, (p.strip() for p in inner.split(","))):
            key, _, value = part.partition("=")
            labels[key.strip()] = value.strip().strip('"')
        return name.strip(), labels, rest.split()
    name, *values = text.split()
    return name, {}, values


def expand(tokens: list[str]) -> list[float | None]:
    values: list[float | None] = []
    for token in tokens:
        if token == "_":
            values.append(None)
        elif token == "stale":
            values.append(STALE)
        elif "x" in token and not token.startswith("0x"):
            start_step, _, count = token.partition("x")
            sign = -1 if "-" in start_step[1:] else 1
            first, _, inc = (start_step[:1] + start_step[1:].replace("-", "+")).partition("+")
            values += [float(first) + sign * float(inc) * i for i in range(int(count) + 1)]
        else:
            values.append(float(token))
    return values


def load(interval: str, *lines: str, start: float = 0.0) -> History:
    """A recorded history as Prometheus's test ``load`` command builds it (no staleness inferred)."""
    step_ms = round(seconds(interval) * 1000)
    store = History(retention=1e9, max_samples=1 << 30)
    for line in lines:
        name, labels, tokens = split_series(line)
        series = Series(*_key(name, labels))
        for i, value in enumerate(expand(tokens)):
            if value is None:
                continue
            series.ts.append(round(start * 1000) + i * step_ms)
            series.vs.append(value)
        store._index(series)
    return store
