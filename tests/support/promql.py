"""Build evaluator inputs the way Prometheus's own PromQL tests do (``promql/testdata/*.test``).

    store = load("1m", 'http_requests{job="api"} 0+10x10', "app_state 1 1 stale")

loads samples every interval from time 0: ``a+bxn`` expands to n+1 values a, a+b, ..., ``_`` skips
a step, ``stale`` writes a staleness marker. ``S(...)`` is one sample as the exposition parser gives it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

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
            t = round(start * 1000) + i * step_ms
            if value is STALE:
                series.append_stale(t)
            else:
                series.ts.append(t)
                series.vs.append(value)
        store._index(series)
    return store


def close(a: str, b: str) -> bool:
    """Values within 1e-9 relative; NaN equals NaN."""
    x, y = float(a), float(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if x == y:
        return True
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y))


def _result_key(element: dict[str, Any]) -> str:
    return repr(sorted(element["metric"].items()))


def assert_same(ours: dict[str, Any], theirs: dict[str, Any], expr: str, at: float) -> None:
    """Two ``/api/v1/query`` data objects agree: type, label sets (in order for sort()), values."""
    where = f"{expr} at {at}"
    assert ours["resultType"] == theirs["resultType"], where
    kind = theirs["resultType"]
    if kind in ("scalar", "string"):
        assert float(ours["result"][0]) == float(theirs["result"][0]), where
        same = (
            ours["result"][1] == theirs["result"][1]
            if kind == "string"
            else close(ours["result"][1], theirs["result"][1])
        )
        assert same, f"{where}: ours {ours['result']} vs {theirs['result']}"
        if kind == "scalar" and float(ours["result"][1]) == float(theirs["result"][1]):
            assert ours["result"][1] == theirs["result"][1], f"{where}: written {ours['result']} vs {theirs['result']}"
        return
    mine, prom = ours["result"], theirs["result"]
    if not expr.startswith("sort"):
        mine, prom = sorted(mine, key=_result_key), sorted(prom, key=_result_key)
    assert [e["metric"] for e in mine] == [e["metric"] for e in prom], f"{where}:\n ours {mine}\n prom {prom}"
    for a, b in zip(mine, prom, strict=True):
        points_a = [a["value"]] if kind == "vector" else a["values"]
        points_b = [b["value"]] if kind == "vector" else b["values"]
        assert len(points_a) == len(points_b), f"{where}: {a} vs {b}"
        for pa, pb in zip(points_a, points_b, strict=True):
            assert float(pa[0]) == float(pb[0]), f"{where}: time {pa} vs {pb}"
            assert close(pa[1], pb[1]), f"{where}: {a['metric']} ours {pa[1]} vs prom {pb[1]}"
            if float(pa[1]) == float(pb[1]):  # equal values are written the same way
                assert pa[1] == pb[1], f"{where}: {a['metric']} written {pa[1]!r}, Prometheus wrote {pb[1]!r}"
