"""The quick path's evaluation and words: a compiled condition's value over the page's samples
(Prometheus 2.42's semantics, as ``promql/_nodes.py`` implements them), and the line, ``--verbose``
lines and Nagios performance data the full path prints for the same outcomes.

The performance data after `` | `` is the package's ``perfdata``'s, as the full path's is.
"""

from . import perfdata

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    Labels = tuple[tuple[str, str], ...]
    Vector = list[tuple[Labels, float]]
    # (labels with __name__, sorted; the labels as a dict, without it; value), per metric name
    Page = dict[str, list[tuple[Labels, dict[str, str], float]]]
    Plan = list[tuple[str, bool, tuple[object, ...]]]

LOOKBACK_MS = 300_000  # healthgauge.promql LOOKBACK_MS (tests/check/test_quick.py checks it)
_COMPARE: "dict[str, Callable[[float, float], bool]]" = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
}
_INF = float("inf")
_NAN = float("nan")
# "Not for the quick path: the full path answers" (a built-in class: creating one costs).
Unsure = NotImplementedError


# -- evaluation -----------------------------------------------------------------------------------


def judge(
    plan: "Plan", page: "Page", scraped: float, now: float
) -> "list[tuple[str, bool, bool, str, list[tuple[dict[str, str], float]]]]":
    """(text, warn, holds, summary, values) per condition, as the full evaluator words a condition
    that holds; Unsure for an outcome it would word otherwise (one that does not hold), or an error."""
    t = round(now * 1000)
    if not 0 <= t - round(scraped * 1000) <= LOOKBACK_MS:
        raise Unsure
    results = []
    for text, warn, node in plan:
        values: list[tuple[dict[str, str], float]]
        if node[0] == "d":  # a drop-in condition: no series may break it, then its series are seen
            if evaluate(node[1], page, t):  # type: ignore[arg-type]
                raise Unsure  # the full path names the series that break it
            node = node[2]  # type: ignore[assignment]
        value = evaluate(node, page, t)
        if isinstance(value, float):
            holds = value == value and value != 0
            summary, values = f"got {format_human(value)}", [({}, value)]
        else:
            holds = bool(value)
            summary = got(value) if value else ""
            observed = value if holds else _seen(node, page, t)
            values = [(dict(labels), v) for labels, v in observed]
        if not holds and not warn:
            raise Unsure
        results.append((text, warn, holds, summary, values))
    return results


def evaluate(node: "tuple[object, ...]", page: "Page", t: int) -> "Vector | float":
    """A compiled condition's value at ``t`` (ms): an instant vector or a scalar (Prometheus 2.42)."""
    tag = node[0]
    if tag == "n":
        return node[1]  # type: ignore[return-value]
    if tag == "t":
        return t / 1000
    if tag == "s":
        return _select(node, page)
    _, op, lhs, rhs, kinds = node
    a = evaluate(lhs, page, t)  # type: ignore[arg-type]
    b = evaluate(rhs, page, t)  # type: ignore[arg-type]
    if kinds == "ss":
        return _arithmetic(op, a, b)  # type: ignore[arg-type]
    if kinds != "vv":
        return _vector_scalar(op, a, b)  # type: ignore[arg-type]
    if op in ("and", "or", "unless"):
        return _set(op, a, b)  # type: ignore[arg-type]
    return _vector_vector(op, a, b)  # type: ignore[arg-type]


def _seen(node: "tuple[object, ...]", page: "Page", t: int) -> "Vector":
    """What the full path reports as observed for a vector condition that does not hold (its
    performance data): the non-literal side of a comparison, the side of a set operation that made
    it fail (``promql._expr``'s explanation), nothing for an empty selection or arithmetic."""
    if node[0] != "b":
        return []
    _, op, lhs, rhs, kinds = node
    if op in _COMPARE:
        side = rhs if kinds == "sv" else lhs
        return evaluate(side, page, t)  # type: ignore[arg-type,return-value]
    if op not in ("and", "or", "unless"):
        return []
    left = evaluate(lhs, page, t)  # type: ignore[arg-type]
    if op == "or":
        return _seen(lhs, page, t) + _seen(rhs, page, t)  # type: ignore[arg-type]
    if not left:
        return _seen(lhs, page, t)  # type: ignore[arg-type]
    if op == "and" and not evaluate(rhs, page, t):  # type: ignore[arg-type]
        return _seen(rhs, page, t)  # type: ignore[arg-type]
    return left  # type: ignore[return-value]


def _select(node: "tuple[object, ...]", page: "Page") -> "Vector":
    out = []
    for labels, ldict, value in page[node[1]]:  # type: ignore[index]
        for label, op, text, predicate in node[2]:  # type: ignore[attr-defined]
            have = ldict.get(label, "")
            if op == "=":
                ok = have == text
            elif op == "!=":
                ok = have != text
            else:
                ok = predicate(have) == (op == "=~")
            if not ok:
                break
        else:
            out.append((labels, value))
    return out


def _arithmetic(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    try:  # Go's division: ±Inf for a non-zero dividend over ±0, NaN for 0/0
        return a / b
    except ZeroDivisionError:
        if a != a or a == 0:
            return _NAN
        return -_INF if (a < 0) != (b.hex()[0] == "-") else _INF


def _drop_name(labels: "Labels") -> "Labels":
    return tuple(pair for pair in labels if pair[0] != "__name__")


def _unique(vector: "Vector") -> "Vector":
    if len(vector) > 1 and len({labels for labels, _ in vector}) != len(vector):
        raise Unsure  # Prometheus's "vector cannot contain metrics with the same labelset"
    return vector


def _vector_scalar(op: str, a: "Vector | float", b: "Vector | float") -> "Vector":
    swap = isinstance(a, float)
    vector, scalar = (b, a) if swap else (a, b)
    assert isinstance(vector, list)
    assert isinstance(scalar, float)
    if op in _COMPARE:  # a filter keeps the element's own value and name
        cmp = _COMPARE[op]
        if swap:
            return [(lb, v) for lb, v in vector if cmp(scalar, v)]
        return [(lb, v) for lb, v in vector if cmp(v, scalar)]
    if swap:
        return _unique([(_drop_name(lb), _arithmetic(op, scalar, v)) for lb, v in vector])
    return _unique([(_drop_name(lb), _arithmetic(op, v, scalar)) for lb, v in vector])


def _set(op: str, lhs: "Vector", rhs: "Vector") -> "Vector":
    if op == "and":
        if not lhs or not rhs:
            return []
        right = {_drop_name(lb) for lb, _ in rhs}
        return [s for s in lhs if _drop_name(s[0]) in right]
    if op == "or":
        if not lhs or not rhs:
            return lhs or rhs
        left = {_drop_name(lb) for lb, _ in lhs}
        return lhs + [s for s in rhs if _drop_name(s[0]) not in left]
    if not lhs or not rhs:
        return lhs
    right = {_drop_name(lb) for lb, _ in rhs}
    return [s for s in lhs if _drop_name(s[0]) not in right]


def _vector_vector(op: str, lhs: "Vector", rhs: "Vector") -> "Vector":
    """One-to-one matching on every label but the name (no ``on``/``ignoring`` in the subset)."""
    if not lhs or not rhs:
        return []
    one: dict[Labels, float] = {}
    for labels, v in rhs:
        key = _drop_name(labels)
        if key in one:
            raise Unsure  # many-to-many: the full path's error
        one[key] = v
    matched = set()
    out = []
    cmp = _COMPARE.get(op)
    for labels, v in lhs:
        key = _drop_name(labels)
        if key not in one:
            continue
        if cmp is not None and not cmp(v, one[key]):
            continue  # filtered out before it counts as a match, as in Prometheus
        if key in matched:
            raise Unsure  # "multiple matches for labels": the full path's error
        matched.add(key)
        out.append((labels, v) if cmp is not None else (key, _arithmetic(op, v, one[key])))
    return _unique(out)


# -- words ----------------------------------------------------------------------------------------


def format_human(v: float) -> str:
    """``healthgauge.promql``'s value for people: integers whole, others to 6 significant digits."""
    if v != v:
        return "NaN"
    if v in (_INF, -_INF):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.6g}"


def got(vector: "Vector") -> str:
    """``healthgauge.promql``'s summary of a result: ``got 1``, or the series named by the labels
    that tell them apart (at most 5, within about 240 characters)."""
    if len(vector) == 1:
        return f"got {format_human(vector[0][1])}"
    shown = vector[:5]
    dicts = [dict(labels) for labels, _ in shown]
    every = {k for labels, _ in shown for k, _ in labels}
    varying = {k for k in every if len({d.get(k) for d in dicts}) > 1} or every
    parts: list[str] = []
    length = 4
    for labels, value in shown:
        inner = ", ".join(f'{k}="{v}"' for k, v in labels if k in varying)
        part = f"{format_human(value)} {{{inner}}}"
        if parts and length + len(part) > 240:
            break
        parts.append(part)
        length += len(part) + 2
    more = len(vector) - len(parts)
    return "got " + ", ".join(parts) + (f", … ({more} more)" if more else "")


def render(
    results: "list[tuple[str, bool, bool, str, list[tuple[dict[str, str], float]]]]", verbose: bool, details: str
) -> "tuple[int, str]":
    """The exit code and the text the full path prints for these outcomes (OK or WARN)."""
    warned = [(text, summary) for text, warn, holds, summary, _ in results if warn and holds]
    if verbose and any(warn and not holds for _, warn, holds, _, _ in results):
        raise Unsure  # the summary of a --warn condition that does not hold: the full path's words
    required = sum(1 for _, warn, _, _, _ in results if not warn)
    if warned:
        code, line = 1, "WARN - " + "; ".join(f"{text}: {summary}" for text, summary in warned)
    else:
        code, line = 0, "OK - " + ("1 condition holds" if required == 1 else f"{required} conditions hold")
    lines = [line + perfdata([values for *_, values in results])]
    if verbose:
        lines.append(details)
        for text, warn, holds, summary, _ in results:
            mark = ("WARN" if holds else "OK") if warn else "OK"
            lines.append(f"[{mark}] {'--warn ' if warn else ''}{text}: {summary}")
    return code, "\n".join(lines) + "\n"
