"""PromQL text -> promql-parser's AST -> our node tree, refusing what we do not evaluate.

Everything that can be decided without data is decided here, once: the supported subset, regexes
(compiled and mapped to Python's ``re``), label names given to ``label_replace``/``label_join``,
vector matching, the metric names the expression reads and the history it needs.
"""

from __future__ import annotations

from healthgauge.promql import _syntax as newer_syntax
from healthgauge.promql._errors import PromQLError
from healthgauge.promql._functions import AGGREGATIONS, RANGE_FUNCTIONS, SUPPORTED_FUNCTIONS, node_class
from healthgauge.promql._nodes import (
    ARITHMETIC,
    COMPARISON,
    SET_OPERATORS,
    Matching,
    MatNode,
    Node,
    Number,
    ScalarNode,
    Selector,
    SetBinary,
    StrNode,
    VecNode,
    VectorScalarBinary,
    valid_label_name,
)
from healthgauge.promql._operators import NegScalar, NegVector, ScalarBinary, VectorBinary

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import timedelta
    from typing import Any

    from healthgauge.promql._history import Labels

# Longer texts are refused before parsing: a health condition is a line, not a program.
MAX_TEXT = 65536
# Steps a subquery may evaluate its inside at (Prometheus's limit on a range query's points).
MAX_SUBQUERY_STEPS = 11_000

_CARDINALITY = {
    "OneToOne": "one-to-one",
    "ManyToOne": "many-to-one",
    "OneToMany": "one-to-many",
    "ManyToMany": "many-to-many",
}


def _ms(delta: timedelta | None) -> int:
    if delta is None:
        return 0
    return (delta.days * 86_400_000) + (delta.seconds * 1000) + (delta.microseconds // 1000)


def _negate(matcher: Callable[[str], bool]) -> Callable[[str], bool]:
    return lambda value: not matcher(value)


def _with_pattern(text: str, op: str, placeholder: str, pattern: str) -> str:
    """The selector's text with the first placeholder the scan gave promql-parser put back."""
    quoted = '"' + pattern.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text.replace(f'{op}"{placeholder}"', f"{op}{quoted}", 1)


def _enum_name(value: object) -> str:
    return str(value).rpartition(".")[2]


class Compiler:
    def __init__(self, text: str, ats: list[int | str] | None = None, regexes: list[str] | None = None) -> None:
        self.text = text
        self.regexes = list(regexes or ())  # the patterns of =~ and !~ in the order written
        # The ``@`` operands in the order written (promql-parser misreads their values); the tree
        # is compiled in that order: operands left to right, a subquery's inside before its own ``@``.
        self.ats = list(ats or ())

    def at(self, ast_at: Any) -> tuple[int | None, bool]:
        """The ``@`` time (ms) of a selector or subquery, and whether it is the query's time."""
        if ast_at is None:
            return None, False
        if not self.ats:
            raise self.refuse("an @ modifier the scan did not see", "@")
        at = self.ats.pop(0)
        kind = _enum_name(ast_at.type)
        if isinstance(at, str) != (kind in ("Start", "End")):
            raise self.refuse("an @ modifier read two ways", "@")
        return (None, True) if isinstance(at, str) else (at, False)

    def refuse(self, what: str, token: str) -> PromQLError:
        """``line:column: what, at 'token' in 'text'``: where promtool would point, when the token is found."""
        at = self.text.find(token) if token else -1
        if at < 0:
            return PromQLError(f"{what}: {self.text!r}")
        return PromQLError(f"{newer_syntax.position(self.text, at)}: {what}, at {token!r} in {self.text!r}")

    def node(self, ast: Any) -> Node:
        kind = type(ast).__name__
        method: Callable[[Any], Node] | None = getattr(self, "_" + kind, None)
        if method is None:
            raise self.refuse(f"{kind} is not supported", "")
        return method(ast)

    def _ParenExpr(self, ast: Any) -> Node:
        return self.node(ast.expr)

    def _NumberLiteral(self, ast: Any) -> Node:
        return Number(str(ast), float(ast.val))

    def _StringLiteral(self, ast: Any) -> Node:
        return StrNode(str(ast), str(ast.val))

    def _SubqueryExpr(self, ast: Any) -> Node:
        from healthgauge.promql._subquery import Subquery

        inner = self.node(ast.expr)
        if not isinstance(inner, VecNode):
            raise self.refuse(f"subquery is only allowed on instant vector, got {inner.kind} instead", ":")
        at_ms, at_query = self.at(ast.at)
        if ast.step is not None and _ms(ast.step) <= 0:
            raise self.refuse("duration must be greater than 0", ":")
        node = Subquery(ast.prettify(), inner, _ms(ast.range), _ms(ast.step), _ms(ast.offset), at_ms, at_query)
        # Bounded work: a check or a rule evaluation must end. Prometheus bounds a query by its
        # samples (50 M) and its 2-minute timeout; a health condition gets a step budget instead.
        steps = node.range_ms // node.step_ms + 1
        inside = max((n.range_ms // n.step_ms + 1 for n in inner.walk() if isinstance(n, Subquery)), default=1)
        if steps > MAX_SUBQUERY_STEPS or steps * inside > MAX_SUBQUERY_STEPS * 10:
            raise self.refuse(
                f"subquery of {steps} steps (of {steps * inside} with the subqueries inside): a condition may take"
                f" {MAX_SUBQUERY_STEPS} (as a Prometheus range query's resolution), {MAX_SUBQUERY_STEPS * 10} nested",
                ":",
            )
        return node

    def _VectorSelector(self, ast: Any) -> Selector:
        if ast.matchers.or_matchers:
            raise self.refuse("'or' between label matchers is not supported", " or ")
        name: str | None = ast.name
        equal: list[tuple[str, str]] = []
        predicates: list[tuple[str, Callable[[str], bool]]] = []
        text = ast.prettify()
        for m in ast.matchers.matchers:
            op = _enum_name(m.op)
            if op == "Equal":
                equal.append((m.name, m.value))
                if m.name == "__name__" and name is None:
                    name = m.value
            elif op == "NotEqual":
                predicates.append((m.name, m.value.__ne__))
            else:
                from healthgauge.promql._regex import compile_matcher

                pattern = self.regexes.pop(0) if self.regexes else m.value
                text = _with_pattern(text, "=~" if op == "Re" else "!~", m.value, pattern)
                try:
                    matcher = compile_matcher(pattern)
                except PromQLError as exc:
                    raise self.refuse(str(exc), pattern or ("=~" if op == "Re" else "!~")) from None
                if op == "NotRe":
                    matcher = _negate(matcher)
                predicates.append((m.name, matcher))
        if name is None and all(not v for _, v in equal) and all(pred("") for _, pred in predicates):
            raise self.refuse("vector selector must contain at least one non-empty matcher", "{")
        at_ms, at_query = self.at(ast.at)
        # Equality matchers first: they are the cheapest and most selective.
        return Selector(text, name, tuple(equal), tuple(predicates), _ms(ast.offset), at_ms, at_query)

    def _MatrixSelector(self, ast: Any) -> Node:
        from healthgauge.promql._range import RangeSelector

        selector = self._VectorSelector(ast.vector_selector)
        return RangeSelector(ast.prettify(), selector, _ms(ast.range))

    def _UnaryExpr(self, ast: Any) -> Node:
        arg = self.node(ast.expr)
        if isinstance(arg, VecNode):
            return NegVector("", arg)
        if isinstance(arg, ScalarNode):
            return NegScalar("", arg)
        raise self.refuse("unary minus needs a scalar or an instant vector", "-")

    def _BinaryExpr(self, ast: Any) -> Node:
        op = str(ast.op)
        if op not in ARITHMETIC and op not in COMPARISON and op not in SET_OPERATORS:
            raise self.refuse(f"operator {op} is not supported", op)
        modifier = ast.modifier
        if modifier is not None:
            fill = modifier.fill_values
            if fill is not None and (fill.lhs is not None or fill.rhs is not None):
                raise self.refuse("fill() modifiers are not supported", "fill")
        bool_ = bool(modifier is not None and modifier.return_bool)
        lhs, rhs = self.node(ast.lhs), self.node(ast.rhs)
        if isinstance(lhs, ScalarNode) and isinstance(rhs, ScalarNode):
            return ScalarBinary("", op, lhs, rhs, bool_)
        if isinstance(lhs, VecNode) and isinstance(rhs, VecNode):
            matching = self._matching(modifier, op)
            if op in SET_OPERATORS:
                return SetBinary("", op, lhs, rhs, matching)
            return VectorBinary("", op, lhs, rhs, bool_, matching)
        if isinstance(lhs, VecNode | ScalarNode) and isinstance(rhs, VecNode | ScalarNode):
            return VectorScalarBinary("", op, lhs, rhs, bool_)
        raise self.refuse(f"operator {op} needs scalars or instant vectors", op)

    def _matching(self, modifier: Any, op: str) -> Matching:
        if modifier is None:
            return Matching("many-to-many" if op in SET_OPERATORS else "one-to-one", False, (), ())
        card = _CARDINALITY[_enum_name(modifier.card)]
        if op in SET_OPERATORS:
            card = "many-to-many"
        elif card == "many-to-many":
            raise self.refuse(f"many-to-many matching is only allowed for set operators, not {op}", op)
        matching = modifier.matching
        on = matching is not None and _enum_name(matching.type) == "Include"
        labels = tuple(matching.labels) if matching is not None else ()
        include = tuple(modifier.group_labels or ())
        return Matching(card, on, labels, include)

    def _AggregateExpr(self, ast: Any) -> Node:
        op = str(ast.op)
        if op not in AGGREGATIONS:
            raise self.refuse(f"unknown function with name {op!r} (Prometheus 2.42 has no {op}())", op)
        param = None if ast.param is None else self.node(ast.param)  # written first: its @ comes first
        inner = self.node(ast.expr)
        if not isinstance(inner, VecNode):
            raise self.refuse(f"{op}() needs an instant vector", op)
        modifier = ast.modifier
        by = modifier is None or _enum_name(modifier.type) == "By"
        grouping = tuple(modifier.labels) if modifier is not None else ()
        if op == "count_values":
            if not isinstance(param, StrNode):
                raise self.refuse("count_values() needs a string label name", op)
            if not valid_label_name(param.value):
                raise self.refuse(f"invalid label name {param.value!r} in count_values()", param.value)
        from healthgauge.promql._aggregate import Aggregate

        return Aggregate("", op, inner, param, by, grouping)

    def _Call(self, ast: Any) -> Node:
        name = str(ast.func.name)
        if name == newer_syntax.HOLT_WINTERS_AS_PARSED:  # the scan renamed it; written otherwise it is refused
            name = "holt_winters"
        if name not in SUPPORTED_FUNCTIONS:
            raise self.refuse(f"unknown function with name {name!r} (Prometheus 2.42 has no {name}())", name + "(")
        raw = list(ast.args)
        args = tuple(self.node(a) for a in raw)
        cls: Any = node_class(name)  # each class takes the arguments its function needs
        extra: tuple[Any, ...] = ()
        if name in ("absent", "absent_over_time"):
            extra = (self._absent_labels(raw[0]),)
        elif name in RANGE_FUNCTIONS:
            selector = next((a for a in args if isinstance(a, MatNode)), None)
            if selector is None:
                raise self.refuse(f"{name}() needs a range selector such as x[5m] or a subquery", name)
            extra = (selector,)
        elif name == "timestamp":
            arg = raw[0]
            while type(arg).__name__ == "ParenExpr":
                arg = arg.expr
            extra = (type(arg).__name__ == "VectorSelector",)
        elif name in ("label_replace", "label_join"):
            extra = self._label_arguments(name, args)
        node: Node = cls("", name, args, *extra)
        return node

    def _label_arguments(self, name: str, args: tuple[Node, ...]) -> tuple[Any, ...]:
        """The string arguments of ``label_replace`` (its regex compiled) or ``label_join``, checked."""
        strings = [a.value if isinstance(a, StrNode) else None for a in args[1:]]
        if any(s is None for s in strings):
            raise self.refuse(f"{name}() needs string literals after the vector", name)
        if name == "label_replace":
            dst, replacement, src, regex = (s or "" for s in strings)
            if not valid_label_name(dst):
                raise self.refuse(f"invalid destination label name in label_replace(): {dst}", dst)
            from healthgauge.promql._regex import compile_anchored

            try:
                pattern = compile_anchored(regex)
            except PromQLError as exc:
                raise self.refuse(f"invalid regular expression in label_replace(): {exc}", regex) from None
            return dst, replacement, src, pattern
        dst, separator, *sources = (s or "" for s in strings)
        if not valid_label_name(dst):
            raise self.refuse(f"invalid destination label name in label_join(): {dst}", dst)
        for src in sources:
            if not valid_label_name(src):
                raise self.refuse(f"invalid source label name in label_join(): {src}", src)
        return dst, separator, tuple(sources)

    def _absent_labels(self, ast: Any) -> Labels:
        """Prometheus's ``createLabelsForAbsentFunction``: labels of the equality matchers of a
        selector written directly; a label matched twice, or matched otherwise, is left out."""
        kind = type(ast).__name__
        if kind == "MatrixSelector":
            ast = ast.vector_selector
        elif kind != "VectorSelector":
            return ()
        labels: dict[str, str] = {}
        seen: set[str] = set()
        for m in ast.matchers.matchers:
            if m.name == "__name__":
                continue
            if _enum_name(m.op) == "Equal" and m.name not in seen:
                if m.value:
                    labels[m.name] = m.value
                seen.add(m.name)
            else:
                labels.pop(m.name, None)
        return tuple(sorted(labels.items()))


def compile_node(text: str) -> Node:
    if len(text) > MAX_TEXT:
        raise PromQLError(f"expression is {len(text)} characters long, the limit is {MAX_TEXT}")
    if not text.strip():
        raise PromQLError(f"empty expression: {text!r}")
    scanned = newer_syntax.scan(text)
    import promql_parser as pp  # here, not at the top: `check` reads compiled conditions from a cache

    try:
        ast = pp.parse(scanned.text)
    except ValueError as exc:
        raise _parse_error(text, str(exc), pp) from None
    except BaseException as exc:  # a panic in the Rust parser surfaces as pyo3's PanicException
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        raise PromQLError(f"the PromQL parser failed ({type(exc).__name__}: {exc}): {text!r}") from None
    try:
        return Compiler(text, scanned.ats, scanned.regexes).node(ast)
    except RecursionError:
        raise PromQLError(f"expression nested too deeply: {text[:80]!r}") from None


# promql-parser's messages for a text whose syntax is right and whose types or counts are not.
_SEMANTIC = ("expected type", "argument(s)", "BOOL modifier", "non-empty matcher", "must be preceded")


def _parse_error(text: str, message: str, pp: Any) -> PromQLError:
    """promql-parser's message with the line:column and the text Prometheus would point at: the
    first token after which the text cannot become valid, the end when it stops too early, or
    the function a type or argument count error names."""

    def valid(candidate: str) -> bool:
        try:
            pp.parse(newer_syntax.scan(candidate).text)
        except BaseException as exc:  # ValueError, or a panic of the Rust parser
            if isinstance(exc, KeyboardInterrupt | SystemExit):
                raise
            return any(words in str(exc) for words in _SEMANTIC)  # the syntax could go on
        return True

    found = newer_syntax.locate(text, valid)
    if found is None:
        return PromQLError(f"parse error: {message}: {text!r}")
    at, token = found
    if not token and any(words in message for words in _SEMANTIC):
        named = message.split("'")[1] if message.count("'") >= 2 else ""
        at = max(text.find(named + "("), 0) if named else 0
        token = named or text[:40]
    elif not token:
        where = newer_syntax.position(text, at)
        return PromQLError(f"{where}: parse error: {message} (the expression ends too early): {text!r}")
    where = newer_syntax.position(text, at)
    return PromQLError(f"{where}: parse error: {message}, at {token!r} in {text!r}")


def names_read(node: Node) -> frozenset[str] | None:
    """The metric names the selectors read, or None when one has no fixed name."""
    names = set()
    for n in node.walk():
        if isinstance(n, Selector):
            if n.name is None:
                return None
            names.add(n.name)
    return frozenset(names)


def history_needed(node: Node) -> float:
    """Seconds of history behind ``now`` the expression reads (ranges plus offsets; the lookback is extra)."""
    return max(n.reach_ms() for n in node.walk()) / 1000


def is_matrix(node: Node) -> bool:
    return isinstance(node, MatNode)
