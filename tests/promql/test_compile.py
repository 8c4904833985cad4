"""Compile once: what the expression reads, and every refusal names the construct and the text."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthgauge.promql import PromQLError, compile


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("double_exponential_smoothing(x[5m], 0.5, 0.5)", "1:1: unknown function with name"),
        ("mad_over_time(x[5m])", "unknown function with name 'mad_over_time' (newer than Prometheus 2.42)"),
        ("sort_by_label(x, 'a')", "unknown function with name 'sort_by_label'"),
        ("limitk(1, x)", "unknown function with name 'limitk'"),
        ("x[5]", "1:3: missing unit character in duration"),
        ("x[1.5m]", "1:3: not a valid duration string"),
        ("x offset 5", "1:10: unexpected number '5' in offset, expected duration"),
        ("1e309", "1:1: error parsing number"),
        ("1 + -1e+400", "1:6: error parsing number"),
        ("x @ 1e19", "timestamp out of bounds for @ modifier"),
        ("x @ NaN", "timestamp out of bounds for @ modifier"),
        ('x{a="b" or c="d"}', "'or' between label matchers is not supported"),
        ("sum(x", "unclosed left parenthesis"),
        ("x +", "invalid promql query"),
        ("1 > 2", "comparisons between scalars must use BOOL modifier"),
        ('x{a=~"\\pL"}', "1:6: unknown escape sequence"),
        ('x{a=~"(?<n>a)"}', "error parsing regexp: invalid or unsupported Perl syntax: `(?<`"),
        ('x{a=~"a++"}', "error parsing regexp: bad repetition operator: ++"),
        ("x{a=~`(?=a)`}", "error parsing regexp"),
        ('label_replace(x, "1a", "", "b", "")', "invalid destination label name"),
        ('label_join(x, "a", ",", "b-c")', "invalid source label name"),
        ('count_values("a-b", x)', "invalid label name"),
        ("", "empty"),
        ("x + 1m", "1:5: the duration '1m' used as a number"),
        ('{"my.metric"}', "1:2: a quoted metric or label name"),
        ('x{"a.b"="c"}', "a quoted metric or label name"),
        ('sum by ("a.b") (x)', "a quoted metric or label name"),
    ],
)
def test_refusals_name_the_construct_and_quote_the_text(text: str, message: str) -> None:
    with pytest.raises(PromQLError) as info:
        compile(text)
    assert message in str(info.value)
    assert repr(text) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_refusal_says_where() -> None:
    with pytest.raises(PromQLError, match=r"^1:10: unknown function with name 'mad_over_time'"):
        compile("abs(   0+mad_over_time(x[5m]))")
    with pytest.raises(PromQLError, match=r"^2:5: the duration '5m' used as a number"):
        compile("x\n  + 5m")
    with pytest.raises(PromQLError, match=r"^1:19: invalid destination label name in label_replace\(\): 1a, at '1a'"):
        compile('label_replace(x, "1a", "", "b", "")')


def test_every_function_of_prometheus_2_42_compiles() -> None:
    """The whole of 2.42's function table (promql/parser/functions.go at v2.42.0), none refused."""
    table = [
        "abs",
        "absent",
        "absent_over_time",
        "acos",
        "acosh",
        "asin",
        "asinh",
        "atan",
        "atanh",
        "avg_over_time",
        "ceil",
        "changes",
        "clamp",
        "clamp_max",
        "clamp_min",
        "cos",
        "cosh",
        "count_over_time",
        "days_in_month",
        "day_of_month",
        "day_of_week",
        "day_of_year",
        "deg",
        "delta",
        "deriv",
        "exp",
        "floor",
        "histogram_count",
        "histogram_sum",
        "histogram_fraction",
        "histogram_quantile",
        "holt_winters",
        "hour",
        "idelta",
        "increase",
        "irate",
        "label_replace",
        "label_join",
        "last_over_time",
        "ln",
        "log10",
        "log2",
        "max_over_time",
        "min_over_time",
        "minute",
        "month",
        "pi",
        "predict_linear",
        "present_over_time",
        "quantile_over_time",
        "rad",
        "rate",
        "resets",
        "round",
        "scalar",
        "sgn",
        "sin",
        "sinh",
        "sort",
        "sort_desc",
        "sqrt",
        "stddev_over_time",
        "stdvar_over_time",
        "sum_over_time",
        "tan",
        "tanh",
        "time",
        "timestamp",
        "vector",
        "year",
    ]
    from healthgauge.promql._functions import SUPPORTED_FUNCTIONS

    assert len(table) == 70
    assert set(table) == SUPPORTED_FUNCTIONS


def test_subquery_work_is_bounded() -> None:
    """A condition must end: x[1y:1ms] would evaluate its inside 31 billion times."""
    with pytest.raises(PromQLError, match="subquery of 31536000001 steps"):
        compile("x[1y:1ms]")
    with pytest.raises(PromQLError, match=r"of 219661 with the subqueries inside"):
        compile("max_over_time(max_over_time(x[1h:1s])[1h:1m])")
    compile("max_over_time(x[1d:10s])")  # 8641 steps
    compile("max_over_time(max_over_time(x[10m:1s])[1h:1m])")  # 601 x 61


def test_overlong_text_is_refused_before_parsing() -> None:
    with pytest.raises(PromQLError, match="limit is 65536"):
        compile("x + " * 20000 + "x")


def test_deep_nesting_is_refused_not_crashed() -> None:
    with pytest.raises(PromQLError):
        compile("(" * 5000 + "x" + ")" * 5000)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("time() - app_last_iteration_ts < 60", {"app_last_iteration_ts"}),
        ("increase(jobs_processed_total[2m]) == 0 and queue_depth > 0", {"jobs_processed_total", "queue_depth"}),
        ('{__name__="app_state"} == 1', {"app_state"}),
        ('{__name__=~"app_.*"}', None),
        ("vector(1)", set()),
    ],
)
def test_names(text: str, names: set[str] | None) -> None:
    expected = None if names is None else frozenset(names)
    assert compile(text).names == expected


def test_max_range_is_longest_range_plus_offset() -> None:
    assert compile("rate(x[5m]) > 0 and y offset 1m").max_range == 300
    assert compile("rate(x[5m] offset 10m) + deriv(y[1h])").max_range == 3600
    assert compile("rate(x[5m] offset 1h)").max_range == 3900
    assert compile("max_over_time(rate(x[2m])[10m:1m] offset 1m)").max_range == 660 + 120
    assert compile("x").max_range == 0


def test_kind() -> None:
    assert compile("x").kind == "vector"
    assert compile("1 + 1").kind == "scalar"
    assert compile("x[5m]").kind == "matrix"
    assert compile('"s"').kind == "string"


def test_readme_conditions_compile() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## PromQL conditions", 1)[1].split("\n## ", 1)[0]
    rows = [
        line.split("|")[2].strip().strip("`") for line in section.splitlines() if line.startswith("| ") and "`" in line
    ]
    assert len(rows) >= 6
    for text in rows:
        compile(text)
