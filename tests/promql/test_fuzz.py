"""Only our own errors escape: any text compiles or raises PromQLError; any supported expression
over any data evaluates or raises EvaluationError, and a condition never raises at all."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from healthgauge.promql import EvaluationError, History, PromQLError, compile
from support.promql import S

TOKENS = [
    "x", "y", "{", "}", "(", ")", "[", "]", "5m", "1s", ",", '"a"', "a", "=", "!=", "=~", "!~", "+", "-",
    "*", "/", "%", "^", "==", "<", ">=", "bool", "and", "or", "unless", "on", "ignoring", "group_left",
    "group_right", "by", "without", "sum", "topk", "quantile", "count_values", "rate", "histogram_quantile",
    "label_replace", "offset", "@", ":", "1", "0.5", "NaN", "Inf", "time", "abs", "absent", "sort",
    '"(.*)"', '"$1"', "le", " ",
]  # fmt: skip

EXPRESSIONS = [
    "x + y",
    "x / on(a) group_left y",
    "x > bool y",
    "sum by (a) (x) / ignoring(b) y",
    "topk(2, x) or y",
    'count_values("v", x) unless y',
    "histogram_quantile(0.5, x)",
    'label_replace(x, "b", "$1", "a", "(.*)")',
    "rate(x[1m]) * deriv(y[1m])",
    "quantile_over_time(0.3, x[2m]) - stddev(y)",
    "x * on() group_left y",
    "sort_desc(clamp(x, -1, 1) ^ y)",
    "-x % scalar(y)",
    'absent(x{a="1"}) and vector(time())',
]

values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5).map(float))
samples = st.lists(
    st.tuples(
        st.sampled_from(["x", "y", "x_bucket"]),
        st.dictionaries(st.sampled_from(["a", "b", "le"]), st.sampled_from(["1", "2", "+Inf", "0.5", "z"]), max_size=3),
        values,
        st.integers(0, 240),
    ),
    max_size=30,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=14).map(" ".join))
def test_compile_raises_only_promql_errors(text: str) -> None:
    try:
        compile(text)
    except PromQLError:
        pass


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(EXPRESSIONS), samples, st.integers(0, 300))
def test_evaluation_raises_only_evaluation_errors(
    text: str, data: list[tuple[str, dict[str, str], float, int]], at: int
) -> None:
    store = History.from_recording([S(name, v, float(t), **labels) for name, labels, v, t in data], default_time=0)
    expr = compile(text)
    try:
        result = expr.evaluate(store, at)
    except EvaluationError:
        pass
    else:
        assert result.kind == expr.kind
    outcome = expr.condition(store, at)
    assert isinstance(outcome.holds, bool)
    assert outcome.summary
    if outcome.error is None and outcome.holds:
        assert all(isinstance(v, float) for _, v in outcome.values)
    assert not (
        outcome.holds and outcome.values and all(math.isnan(v) for _, v in outcome.values) and expr.kind == "scalar"
    )
