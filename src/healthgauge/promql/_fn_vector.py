"""``absent()``, ``absent_over_time()``, ``sort()`` and ``sort_desc()``: functions of a whole vector."""

from __future__ import annotations

from healthgauge.promql._functions import Call
from healthgauge.promql._nodes import MatNode, Node, VecNode

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql._history import History, Labels
    from healthgauge.promql._nodes import Vector


class Absent(Call, VecNode):
    """``absent(v)``: one element, labelled from the selector's equality matchers, when v is empty."""

    __slots__ = ("labels",)

    def __init__(self, text: str, name: str, args: tuple[Node, ...], labels: Labels) -> None:
        super().__init__(text, name, args)
        self.labels = labels

    def vec(self, h: History, t: int) -> Vector:
        arg = self.args[0]
        present = bool(arg.mat(h, t)) if isinstance(arg, MatNode) else bool(self.vector_arg(0, h, t))
        return [] if present else [(self.labels, 1.0)]


class Sort(Call, VecNode):
    """``sort`` (ascending) and ``sort_desc`` (descending), NaN last in both, as Prometheus sorts."""

    __slots__ = ()

    def vec(self, h: History, t: int) -> Vector:
        vector = self.vector_arg(0, h, t)
        if self.name == "sort":
            return sorted(vector, key=lambda e: (e[1] != e[1], e[1] if e[1] == e[1] else 0.0))
        return sorted(vector, key=lambda e: (e[1] != e[1], -e[1] if e[1] == e[1] else 0.0))


FUNCTIONS: dict[str, type[Call]] = {"absent": Absent, "absent_over_time": Absent, "sort": Sort, "sort_desc": Sort}
