"""The public face of a compiled expression: evaluate it, judge it as a condition, read a number.

Condition semantics (README, "PromQL conditions"): a condition holds when its result is a non-empty
instant vector, or a scalar that is neither zero nor NaN, as an alerting rule fires when its
expression returns samples. A missing metric gives an empty result, so the condition does not hold;
an evaluation error does not hold either: a check that cannot tell never says healthy.
"""

from __future__ import annotations

from healthgauge.promql._errors import EvaluationError
from healthgauge.promql._floats import format_human
from healthgauge.promql._history import to_ms
from healthgauge.promql._nodes import (
    TWO_SAMPLE_FUNCTIONS,
    Binary,
    Call,
    MatNode,
    Node,
    ScalarNode,
    SetBinary,
    StrNode,
    VecNode,
    VectorPair,
    VectorScalarBinary,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from healthgauge.promql._history import History, Labels
    from healthgauge.promql._nodes import Matrix, Vector
    from healthgauge.promql._result import Result

# How a summary lists several series: at most this many, within about this many characters.
SUMMARY_SERIES = 5
SUMMARY_CHARS = 240


class Outcome:
    """A condition's verdict with what was seen, for ``health.judge`` and health+json.

    ``holds``: the condition holds. ``summary``: for people (``got 312.4``; ``no series matched
    app_state``; the error text). ``values``: the observed (labels, value) pairs; for a comparison
    at the top these are the non-literal side's values. ``error``: the evaluation error, if any.
    """

    __slots__ = ("error", "holds", "summary", "values")

    def __init__(
        self,
        holds: bool,
        summary: str,
        values: tuple[tuple[dict[str, str], float], ...] = (),
        error: str | None = None,
    ) -> None:
        self.holds = holds
        self.summary = summary
        self.values = values
        self.error = error

    def __repr__(self) -> str:
        return f"Outcome(holds={self.holds}, summary={self.summary!r})"


class Expr:
    """A compiled PromQL expression: compile once, evaluate many times.

    ``names``: the metric names it reads (a frozenset), or None when a selector has no fixed name
    (``{__name__=~"app_.*"}``); give it to ``exposition.parse(names=...)``.
    ``max_range``: seconds of history it needs behind ``now`` (longest range + offset): the
    retention a ``History`` needs for it (the latest sample of each series is kept for the lookback).
    ``kind``: the result type, ``"vector"``, ``"scalar"``, ``"string"`` or ``"matrix"``.
    """

    __slots__ = ("_at_query", "_node", "kind", "max_range", "names", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        # Imported here: `check` reads compiled conditions from a cache and never loads the compiler.
        from healthgauge.promql._compile import compile_node, history_needed, names_read

        self._node = compile_node(text)
        self._at_query = any(getattr(n, "at_query", False) for n in self._node.walk())
        self.kind = self._node.kind
        self.names = names_read(self._node)
        self.max_range = history_needed(self._node)

    def __repr__(self) -> str:
        return f"Expr({self.text!r})"

    def evaluate(self, store: History, now: float) -> Result:
        """The value at ``now`` (seconds). Raises ``EvaluationError`` as Prometheus would (e.g.
        many-to-many matching)."""
        from healthgauge.promql._result import Result  # a condition never needs it: not on check's path

        t = self._at(to_ms(now))
        return Result(self.kind, t / 1000, _value(self._node, store, t))

    def condition(self, store: History, now: float) -> Outcome:
        """Whether the condition holds at ``now``, with the summary and observed values."""
        try:
            return _explain(self._node, store, self._at(to_ms(now)))
        except EvaluationError as exc:
            return Outcome(False, str(exc), error=str(exc))
        except Exception as exc:  # fail closed: an evaluator fault must not read as healthy
            text = f"evaluation failed: {type(exc).__name__}: {exc}"
            return Outcome(False, text, error=text)

    def number(self, store: History, now: float) -> float:
        """One number for a weight or a limit: a scalar, or the value of a one-element vector.

        Raises ``EvaluationError`` saying what came instead (nothing, several series, NaN — which
        ``scalar()`` gives for anything but one series — or a string).
        """
        t = self._at(to_ms(now))
        node = self._node
        if isinstance(node, ScalarNode):
            return self._a_number(node.scalar(store, t))
        if isinstance(node, VecNode):
            vector = node.vec(store, t)
            if len(vector) == 1:
                return self._a_number(vector[0][1])
            if not vector:
                raise EvaluationError(f"{self.text}: expected one number, {_why_empty(node, store, t)}")
            raise EvaluationError(f"{self.text}: expected one number, got {len(vector)} series: {_got(vector)}")
        raise EvaluationError(f"{self.text}: expected one number, got a {node.kind}")

    def _at(self, t: int) -> int:
        """``@ start()`` and ``@ end()`` are the query's time, also inside subqueries: set it."""
        if self._at_query:
            for n in self._node.walk():
                if getattr(n, "at_query", False):
                    n.at_ms = t  # type: ignore[attr-defined]
        return t

    def _a_number(self, value: float) -> float:
        if value != value:
            raise EvaluationError(f"{self.text}: expected one number, got NaN")
        return value


def _value(node: Node, h: History, t: int) -> Vector | Matrix | float | str:
    if isinstance(node, VecNode):
        return node.vec(h, t)
    if isinstance(node, ScalarNode):
        return node.scalar(h, t)
    if isinstance(node, MatNode):
        return node.mat(h, t)
    assert isinstance(node, StrNode)
    return node.string(h, t)


def _observed(vector: Vector) -> tuple[tuple[dict[str, str], float], ...]:
    return tuple((dict(labels), value) for labels, value in vector)


def _explain(node: Node, h: History, t: int) -> Outcome:
    if isinstance(node, SetBinary):
        return _explain_set(node, h, t)
    if isinstance(node, Binary) and node.is_comparison and not node.bool_ and isinstance(node, VecNode):
        return _explain_comparison(node, h, t)
    if isinstance(node, VecNode):
        vector = node.vec(h, t)
        if not vector:
            return Outcome(False, _why_empty(node, h, t))
        return Outcome(True, _got(vector), _observed(vector))
    if isinstance(node, ScalarNode):
        value = node.scalar(h, t)
        holds = value == value and value != 0
        return Outcome(holds, f"got {format_human(value)}", (({}, value),))
    if isinstance(node, MatNode):
        matrix = node.mat(h, t)
        if not matrix:
            return Outcome(False, _why_empty(node, h, t))
        return Outcome(True, f"got {len(matrix)} series")
    return Outcome(False, "a string is not a condition")


def _explain_comparison(node: Binary, h: History, t: int) -> Outcome:
    """``A < 60``: the values of the non-literal side are what a person needs to see."""
    if isinstance(node, VectorScalarBinary):
        side = node.vector_side
        observed = side.vec(h, t)
        result = node.apply(observed, node.scalar_side.scalar(h, t))
    else:
        assert isinstance(node, VectorPair)
        assert isinstance(node.lhs, VecNode)
        assert isinstance(node.rhs, VecNode)
        side = node.lhs
        observed = side.vec(h, t)
        result = node.combine(observed, node.rhs.vec(h, t))
    if result:
        return Outcome(True, _got(result), _observed(result))
    if not observed:
        return Outcome(False, _why_empty(side, h, t))
    return Outcome(False, _got(observed), _observed(observed))


def _explain_set(node: SetBinary, h: History, t: int) -> Outcome:
    """``A and B``, ``A or B``, ``A unless B``: say which side made the condition fail."""
    assert isinstance(node.lhs, VecNode)
    assert isinstance(node.rhs, VecNode)
    lhs = node.lhs.vec(h, t)
    rhs = node.rhs.vec(h, t)
    if node.op == "and" and not lhs:
        return _explain(node.lhs, h, t)
    result = node.combine(lhs, rhs)
    if result:
        return Outcome(True, _got(result), _observed(result))
    if node.op == "and":
        if not rhs:
            return _explain(node.rhs, h, t)
        return Outcome(False, f"no series of the left side matched the right side ({_got(rhs)})", _observed(lhs))
    if node.op == "or":
        left, right = _explain(node.lhs, h, t), _explain(node.rhs, h, t)
        return Outcome(False, f"{left.summary}; {right.summary}", left.values + right.values)
    if not lhs:
        return _explain(node.lhs, h, t)
    return Outcome(False, f"every series was excluded by the right side ({_got(rhs)})", _observed(lhs))


def _why_empty(node: Node, h: History, t: int) -> str:
    """Name the first selector under ``node`` that found nothing, as a person would look for it;
    else the first range function that had too few samples; else say the result was empty."""
    for n in node.walk():
        if n.found_nothing(h, t):
            return f"no series matched {n.text}"
    for n in node.walk():
        if (reason := n.too_few_samples(h, t)) is not None:
            return reason
    return "empty result"


def _got(vector: Vector) -> str:
    """``got 312.4``, or ``got 1500 {queue="default"}, 12 {queue="bulk"}`` naming only the labels
    that tell the series apart, cut to a sane length."""
    if len(vector) == 1:
        return f"got {format_human(vector[0][1])}"
    shown = vector[:SUMMARY_SERIES]
    varying = _varying_labels([labels for labels, _ in shown])
    parts: list[str] = []
    length = 4
    for labels, value in shown:
        inner = ", ".join(f'{k}="{v}"' for k, v in labels if k in varying)
        part = f"{format_human(value)} {{{inner}}}"
        if parts and length + len(part) > SUMMARY_CHARS:
            break
        parts.append(part)
        length += len(part) + 2
    more = len(vector) - len(parts)
    tail = f", … ({more} more)" if more else ""
    return "got " + ", ".join(parts) + tail


def _varying_labels(label_sets: list[Labels]) -> set[str]:
    names = {k for labels in label_sets for k, _ in labels}
    dicts = [dict(labels) for labels in label_sets]
    varying = {n for n in names if len({d.get(n) for d in dicts}) > 1}
    return varying or names


def needs_history(expr: Expr) -> str | None:
    """Why ``expr`` can never give a result over one scrape, or None.

    A function that needs two samples of a series (``rate``, ``irate``, ``increase``, ``delta``,
    ``idelta``, ``deriv``, ``predict_linear``, ``holt_winters``; also inside a subquery) has one
    sample per series in a single scrape, so as a condition it can only fail. ``healthgauge
    check`` refuses such a condition before any I/O; ``query`` over one scrape warns.
    """
    for n in expr._node.walk():
        name = getattr(n, "name", None)
        if name in TWO_SAMPLE_FUNCTIONS and isinstance(n, Call):
            return (
                f"{name}() needs 2 samples of a series and one scrape has 1: it can never hold here;"
                " evaluate it in `healthgauge agent`, which keeps each target's history"
            )
    return None


def compile(text: str) -> Expr:
    """Compile PromQL ``text`` once, to evaluate many times.

    Raises ``PromQLError`` (a ValueError) quoting the text and saying what is wrong: a syntax error
    from promql-parser, or a construct we do not evaluate ("subqueries are not supported", "the @
    modifier is not supported", "function foo() is not supported").
    """
    return Expr(text)
