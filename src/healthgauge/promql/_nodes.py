"""The compiled expression tree: one node class per construct, each evaluating at one instant.

A node's result type is fixed when it is compiled (promql-parser has type-checked the text), so
each kind of node has its own typed method: ``vec`` (an instant vector: a list of (labels, value)),
``scalar``, ``mat`` (a range vector) or ``string``. ``h`` is the History read, ``t`` the evaluation
time in integer milliseconds, as in Prometheus's engine.

The semantics are Prometheus 2.42's ``promql/engine.go``: which operations drop ``__name__``, how
vector matching finds its pairs and which duplicates are errors.

The node contract (``healthgauge check`` keeps compiled trees between runs, ``_check/startup/
_exprcache.py``, and rebuilds them with ``object.__new__`` and the slots set, never calling
``__init__``): a node is plain data. Every attribute is a ``__slots__`` entry (no ``__dict__``)
holding None, a bool, int, float or str, a tuple, list, frozenset or dict of these, another node, or
``str.__eq__``/``str.__ne__`` bound to a string; ``__init__`` only assigns slots (no derived state,
no side effects). A node holding anything else (a compiled regex) is not cached and is compiled at
every run. ``tests/check/test_exprcache.py`` round-trips a tree of every node class.
"""

from __future__ import annotations

from healthgauge.promql._errors import EvaluationError
from healthgauge.promql._floats import div

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from healthgauge.promql._history import History, Labels, Series

    Vector = list[tuple[Labels, float]]
    Matrix = list[tuple[Labels, list[int], list[float]]]


def drop_name(labels: Labels) -> Labels:
    """The labels without ``__name__`` (which sorts first unless a label starts with A-Z)."""
    if labels and labels[0][0] == "__name__":
        return labels[1:]
    for i, pair in enumerate(labels):
        if pair[0] == "__name__":
            return labels[:i] + labels[i + 1 :]
    return labels


def set_label(labels: Labels, name: str, value: str) -> Labels:
    """The labels with ``name`` set to ``value``; an empty value removes the label, as in Prometheus."""
    pairs = [p for p in labels if p[0] != name]
    if value:
        pairs.append((name, value))
        pairs.sort()
    return tuple(pairs)


def check_unique(vec: Vector) -> Vector:
    """Prometheus refuses a vector with two elements of one label set (after __name__ was dropped)."""
    if len(vec) > 1 and len({labels for labels, _ in vec}) != len(vec):
        raise EvaluationError("vector cannot contain metrics with the same labelset")
    return vec


def valid_label_name(name: str) -> bool:
    """``[a-zA-Z_][a-zA-Z0-9_]*`` without ``re`` (Prometheus's ``model.LabelName.IsValid``)."""
    if not name or name[0].isdigit():
        return False
    return all(c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9") for c in name)


def format_labels(labels: Labels) -> str:
    """``name{a="b", c="d"}`` as Prometheus prints a series in its error messages."""
    name = ""
    inner = []
    for k, v in labels:
        if k == "__name__":
            name = v
        else:
            escaped = v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            inner.append(f'{k}="{escaped}"')
    return name + "{" + ", ".join(inner) + "}"


# The range functions that give nothing for a series with fewer than two samples in its window:
# over one scrape they can never give anything.
TWO_SAMPLE_FUNCTIONS = frozenset(
    ("rate", "irate", "increase", "delta", "idelta", "deriv", "predict_linear", "holt_winters")
)


class Node:
    """A compiled expression. ``text`` is its PromQL, for messages."""

    __slots__ = ("text",)
    kind = ""

    def __init__(self, text: str) -> None:
        self.text = text

    def children(self) -> tuple[Node, ...]:
        return ()

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children():
            yield from child.walk()

    def found_nothing(self, h: History, t: int) -> bool:
        """A selector that selects no series at ``t``: the first thing a person looks for when a
        result is empty. False for every other node."""
        return False

    def too_few_samples(self, h: History, t: int) -> str | None:
        """Why a range function gave nothing though its selector found series, or None."""
        return None

    def reach_ms(self) -> int:
        """How far behind the evaluation time this node itself reads (offset, plus range), in ms."""
        return 0


class VecNode(Node):
    __slots__ = ()
    kind = "vector"

    def vec(self, h: History, t: int) -> Vector:
        raise NotImplementedError


class ScalarNode(Node):
    __slots__ = ()
    kind = "scalar"

    def scalar(self, h: History, t: int) -> float:
        raise NotImplementedError


class MatNode(Node):
    __slots__ = ()
    kind = "matrix"

    def mat(self, h: History, t: int) -> Matrix:
        raise NotImplementedError


class StrNode(Node):
    __slots__ = ("value",)
    kind = "string"

    def __init__(self, text: str, value: str) -> None:
        super().__init__(text)
        self.value = value

    def string(self, h: History, t: int) -> str:
        return self.value


class Number(ScalarNode):
    __slots__ = ("value",)

    def __init__(self, text: str, value: float) -> None:
        super().__init__(text)
        self.value = value

    def scalar(self, h: History, t: int) -> float:
        return self.value


class Call(Node):
    """A function call: its name and compiled arguments."""

    __slots__ = ("args", "name")

    def __init__(self, text: str, name: str, args: tuple[Node, ...]) -> None:
        super().__init__(text)
        self.name = name
        self.args = args

    def children(self) -> tuple[Node, ...]:
        return self.args

    def scalar_arg(self, i: int, h: History, t: int, default: float) -> float:
        if i >= len(self.args):
            return default
        arg = self.args[i]
        assert isinstance(arg, ScalarNode)
        return arg.scalar(h, t)

    def vector_arg(self, i: int, h: History, t: int) -> Vector:
        arg = self.args[i]
        assert isinstance(arg, VecNode)
        return arg.vec(h, t)


# Selectors.


class Selector(VecNode):
    """``name{label="v", other=~"re"} offset 5m``: each series' latest sample within the lookback.

    ``at_ms``: the ``@`` time in ms, or None; ``@ start()`` / ``@ end()`` (``at_query``) are the
    query's time, set on the node by ``Expr`` before each evaluation (a subquery evaluates its
    inside at other times, but ``@ end()`` stays the query's).
    """

    __slots__ = ("at_ms", "at_query", "equal", "name", "offset_ms", "predicates")

    def __init__(
        self,
        text: str,
        name: str | None,
        equal: tuple[tuple[str, str], ...],
        predicates: tuple[tuple[str, Callable[[str], bool]], ...],
        offset_ms: int,
        at_ms: int | None = None,
        at_query: bool = False,
    ) -> None:
        super().__init__(text)
        self.name = name
        self.equal = equal
        self.predicates = predicates
        self.offset_ms = offset_ms
        self.at_ms = at_ms
        self.at_query = at_query

    def ref(self, t: int) -> int:
        """The time this selector reads at when evaluated at ``t``: its ``@`` time or ``t``, less the offset."""
        at = self.at_ms
        return (t if at is None else at) - self.offset_ms

    def select(self, h: History) -> list[Series]:
        """The series whose labels satisfy every matcher (an absent label reads as "")."""
        equal, predicates = self.equal, self.predicates
        out = []
        for series in h.series(self.name):
            ldict = series.ldict
            for label, value in equal:
                if ldict.get(label, "") != value:
                    break
            else:
                for label, pred in predicates:
                    if not pred(ldict.get(label, "")):
                        break
                else:
                    out.append(series)
        return out

    def points(self, h: History, t: int) -> list[tuple[Labels, int, float]]:
        """Labels, sample time and value of each selected series at ``t``."""
        ref = self.ref(t)
        out = []
        for series in self.select(h):
            point = series.at(ref)
            if point is not None:
                out.append((series.labels, point[0], point[1]))
        return out

    def vec(self, h: History, t: int) -> Vector:
        ref = t - self.offset_ms if self.at_ms is None else self.at_ms - self.offset_ms
        out = []
        for series in self.select(h):
            point = series.at(ref)
            if point is not None:
                out.append((series.labels, point[1]))
        return out

    def found_nothing(self, h: History, t: int) -> bool:
        return not self.vec(h, t)

    def reach_ms(self) -> int:
        return self.offset_ms


# Binary operators.

ARITHMETIC = frozenset(("+", "-", "*", "/", "%", "^", "atan2"))
_PLAIN_ARITHMETIC: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": div,
}


def arithmetic(op: str) -> Callable[[float, float], float]:
    """The function of an arithmetic operator, with Go's semantics; ``%``, ``^`` and ``atan2`` load
    ``_gomath`` (and ``math``) the first time an expression uses one."""
    fn = _PLAIN_ARITHMETIC.get(op)
    if fn is not None:
        return fn
    from healthgauge.promql import _gomath as gm

    return {"%": gm.mod, "^": gm.power, "atan2": gm.atan2}[op]


COMPARISON: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}
SET_OPERATORS = ("and", "or", "unless")
# Prometheus 2.42's shouldDropMetricName: arithmetic drops the name, except atan2 (and comparisons).
DROPS_NAME = frozenset(("+", "-", "*", "/", "%", "^"))


class Binary(Node):
    """What every binary node knows: operator, operands, and whether ``bool`` was given."""

    __slots__ = ("bool_", "lhs", "op", "rhs")

    def __init__(self, text: str, op: str, lhs: Node, rhs: Node, bool_: bool) -> None:
        super().__init__(text)
        self.op = op
        self.lhs = lhs
        self.rhs = rhs
        self.bool_ = bool_

    def children(self) -> tuple[Node, ...]:
        return (self.lhs, self.rhs)

    @property
    def is_comparison(self) -> bool:
        return self.op in COMPARISON


class VectorScalarBinary(Binary, VecNode):
    """A vector and a scalar (either side): the operation applied to every element."""

    __slots__ = ()

    @property
    def vector_side(self) -> VecNode:
        side = self.rhs if isinstance(self.lhs, ScalarNode) else self.lhs
        assert isinstance(side, VecNode)
        return side

    @property
    def scalar_side(self) -> ScalarNode:
        side = self.lhs if isinstance(self.lhs, ScalarNode) else self.rhs
        assert isinstance(side, ScalarNode)
        return side

    def vec(self, h: History, t: int) -> Vector:
        if isinstance(self.lhs, ScalarNode):
            scalar = self.lhs.scalar(h, t)
            return self.apply(self.vector_side.vec(h, t), scalar)
        return self.apply(self.vector_side.vec(h, t), self.scalar_side.scalar(h, t))

    def apply(self, vector: Vector, scalar: float) -> Vector:
        swap = isinstance(self.lhs, ScalarNode)
        op = self.op
        if op in COMPARISON:
            cmp = COMPARISON[op]
            if self.bool_:
                if swap:
                    return check_unique([(drop_name(lb), 1.0 if cmp(scalar, v) else 0.0) for lb, v in vector])
                return check_unique([(drop_name(lb), 1.0 if cmp(v, scalar) else 0.0) for lb, v in vector])
            # A filter keeps the vector element's own value, on whichever side the vector is.
            if swap:
                return [(lb, v) for lb, v in vector if cmp(scalar, v)]
            return [(lb, v) for lb, v in vector if cmp(v, scalar)]
        fn = arithmetic(op)
        if op not in DROPS_NAME:
            if swap:
                return check_unique([(lb, fn(scalar, v)) for lb, v in vector])
            return check_unique([(lb, fn(v, scalar)) for lb, v in vector])
        if swap:
            return check_unique([(drop_name(lb), fn(scalar, v)) for lb, v in vector])
        return check_unique([(drop_name(lb), fn(v, scalar)) for lb, v in vector])


class Matching:
    """``on(...)`` / ``ignoring(...)`` and ``group_left(...)`` / ``group_right(...)`` of a vector operation."""

    __slots__ = ("card", "include", "labels", "on")

    def __init__(self, card: str, on: bool, labels: tuple[str, ...], include: tuple[str, ...]) -> None:
        self.card = card  # "one-to-one", "many-to-one", "one-to-many", "many-to-many"
        self.on = on
        self.labels = frozenset(labels)
        self.include = include

    def signature(self) -> Callable[[Labels], Labels]:
        """The labels two elements must share to match: the ``on`` labels, or all but the
        ``ignoring`` ones and ``__name__`` (Prometheus's ``HashWithoutLabels`` skips the name)."""
        names = self.labels
        if self.on:
            return lambda labels: tuple(p for p in labels if p[0] in names)
        if not names:
            return drop_name
        return lambda labels: tuple(p for p in labels if p[0] not in names and p[0] != "__name__")


class VectorPair(Binary, VecNode):
    """Two instant vectors matched element by element: the set operators here, the others in ``_operators``."""

    __slots__ = ("matching",)

    def __init__(self, text: str, op: str, lhs: VecNode, rhs: VecNode, bool_: bool, matching: Matching) -> None:
        super().__init__(text, op, lhs, rhs, bool_)
        self.matching = matching

    def vec(self, h: History, t: int) -> Vector:
        assert isinstance(self.lhs, VecNode)
        assert isinstance(self.rhs, VecNode)
        # Both sides are always evaluated, as in Prometheus: an error on one side is an error even
        # when the other side is empty.
        lhs = self.lhs.vec(h, t)
        rhs = self.rhs.vec(h, t)
        return self.combine(lhs, rhs)

    def combine(self, lhs: Vector, rhs: Vector) -> Vector:
        raise NotImplementedError


class SetBinary(VectorPair):
    """``and`` / ``or`` / ``unless``: many-to-many by definition, values and names untouched."""

    __slots__ = ()

    def __init__(self, text: str, op: str, lhs: VecNode, rhs: VecNode, matching: Matching) -> None:
        super().__init__(text, op, lhs, rhs, False, matching)

    def combine(self, lhs: Vector, rhs: Vector) -> Vector:
        sig = self.matching.signature()
        if self.op == "and":
            if not lhs or not rhs:
                return []
            right = {sig(lb) for lb, _ in rhs}
            return [s for s in lhs if sig(s[0]) in right]
        if self.op == "or":
            if not lhs or not rhs:
                return lhs or rhs
            left = {sig(lb) for lb, _ in lhs}
            return lhs + [s for s in rhs if sig(s[0]) not in left]
        if not lhs or not rhs:
            return lhs
        right = {sig(lb) for lb, _ in rhs}
        return [s for s in lhs if sig(s[0]) not in right]
