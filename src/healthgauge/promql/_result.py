"""The value of an evaluation (``Expr.evaluate``), for ``healthgauge query`` and callers that want
the data rather than a verdict; conditions (``Expr.condition``) never build one."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql._nodes import Matrix, Vector


class Result:
    """One evaluation's value. ``kind`` is ``"vector"``, ``"scalar"``, ``"string"`` or ``"matrix"``
    (Prometheus's ``resultType``); ``time`` the evaluation time in seconds.

    ``series()`` gives (labels, value) for a vector, ``scalar``/``string`` the single value,
    ``matrix()`` (labels, [(seconds, value), ...]) per series for a range selector.
    """

    __slots__ = ("_matrix", "_value", "_vector", "kind", "time")

    def __init__(self, kind: str, time: float, data: Vector | Matrix | float | str) -> None:
        self.kind = kind
        self.time = time
        self._vector: Vector = []
        self._matrix: Matrix = []
        self._value: float | str = ""
        if isinstance(data, float | str):
            self._value = data
        elif kind == "matrix":
            self._matrix = data  # type: ignore[assignment]
        else:
            self._vector = data  # type: ignore[assignment]

    def series(self) -> list[tuple[dict[str, str], float]]:
        if self.kind != "vector":
            raise TypeError(f"a {self.kind} result has no series")
        return [(dict(labels), value) for labels, value in self._vector]

    def matrix(self) -> list[tuple[dict[str, str], list[tuple[float, float]]]]:
        if self.kind != "matrix":
            raise TypeError(f"a {self.kind} result is not a matrix")
        return [(dict(labels), [(t / 1000, v) for t, v in zip(ts, vs, strict=True)]) for labels, ts, vs in self._matrix]

    @property
    def scalar(self) -> float:
        if not isinstance(self._value, float):
            raise TypeError(f"a {self.kind} result is not a scalar")
        return self._value

    @property
    def string(self) -> str:
        if self.kind != "string":
            raise TypeError(f"a {self.kind} result is not a string")
        assert isinstance(self._value, str)
        return self._value

    def __repr__(self) -> str:
        data = self._vector if self.kind == "vector" else self._matrix if self.kind == "matrix" else self._value
        return f"Result({self.kind}, {data!r})"
