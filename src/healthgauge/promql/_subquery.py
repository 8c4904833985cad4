"""Subqueries: ``expr[5m:1m]``, ``expr[5m:]``, with ``offset`` and ``@``, as Prometheus 2.42's engine.

The inner expression is evaluated at every step of the window, the steps being multiples of the
step counted from the epoch (the first one at or after ``end - range``), up to and including the
window's end; ``end`` is the evaluation time (or the ``@`` time) less the offset. Without a step,
the step is the default evaluation interval of Prometheus's API, one minute. Each series of the
inner results becomes one series of the range vector, with the points where it had a value, as
the range functions read a range selector's samples.

Over one scrape (``check``) the inner expression sees that scrape at every step where it is within
the lookback; over the agent's history it sees what was scraped by each step.
"""

from __future__ import annotations

from healthgauge.promql._range import RangeCall, RangeSource

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator

    from healthgauge.promql._history import History, Labels
    from healthgauge.promql._nodes import Matrix, Node, VecNode

# Prometheus's default global evaluation interval: the step of a subquery written without one.
DEFAULT_STEP_MS = 60_000


class Subquery(RangeSource):
    __slots__ = ("at_ms", "at_query", "inner", "offset_ms", "step_ms")

    def __init__(
        self,
        text: str,
        inner: VecNode,
        range_ms: int,
        step_ms: int,
        offset_ms: int,
        at_ms: int | None,
        at_query: bool,
    ) -> None:
        super().__init__(text)
        self.inner = inner
        self.range_ms = range_ms
        self.step_ms = step_ms or DEFAULT_STEP_MS
        self.offset_ms = offset_ms
        self.at_ms = at_ms
        self.at_query = at_query

    def children(self) -> tuple[Node, ...]:
        return (self.inner,)

    def bounds(self, t: int) -> tuple[int, int]:
        end = (t if self.at_ms is None else self.at_ms) - self.offset_ms
        return end - self.range_ms, end

    def steps(self, t: int) -> range:
        """The evaluation times: multiples of the step in ``[end - range, end]``."""
        start, end = self.bounds(t)
        step = self.step_ms
        first = step * (start // step)
        if first < start:
            first += step
        return range(first, end + 1, step)

    def mat(self, h: History, t: int) -> Matrix:
        series: dict[Labels, tuple[list[int], list[float]]] = {}
        inner = self.inner
        steps = self.steps(t)
        drifting = [n for n in _outside_subqueries(inner) if isinstance(n, RangeCall) and n.name == "predict_linear"]
        for n in drifting:
            n.origin = steps[0] if steps else None
        try:
            for at in steps:
                for labels, value in inner.vec(h, at):
                    points = series.get(labels)
                    if points is None:
                        points = series[labels] = ([], [])
                    points[0].append(at)
                    points[1].append(value)
        finally:
            for n in drifting:
                n.origin = None
        return [(labels, ts, vs) for labels, (ts, vs) in series.items()]

    def spans(self, h: History, t: int) -> list[tuple[Labels, list[int], list[float], int, int]]:
        return [(labels, ts, vs, 0, len(ts)) for labels, ts, vs in self.mat(h, t)]

    def found_nothing(self, h: History, t: int) -> bool:
        return False  # the selectors inside say what found nothing

    def reach_ms(self) -> int:
        """The window, its offset, and whatever the inside reads behind each step."""
        return self.range_ms + self.offset_ms + max(n.reach_ms() for n in self.inner.walk())


def _outside_subqueries(node: Node) -> Iterator[Node]:
    """``node`` and the nodes under it, not looking inside subqueries (they set their own)."""
    yield node
    for child in node.children():
        if not isinstance(child, Subquery):
            yield from _outside_subqueries(child)
