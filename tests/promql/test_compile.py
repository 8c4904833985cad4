"""Compile once: what the expression reads, and every refusal names the construct and the text."""

from __future__ import annotations

from pathlib import Path

import pytest

from healthgauge.promql import PromQLError, compile


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rate(x[5m:1m])", "subqueries are not supported"),
        ("x @ 100", "the @ modifier is not supported"),
        ("x offset 1m @ start()", "the @ modifier is not supported"),
        ("holt_winters(x[5m], 0.5, 0.5)", "unknown function"),
        ("mad_over_time(x[5m])", "function mad_over_time() is not supported"),
        ("sort_by_label(x, 'a')", "function sort_by_label() is not supported"),
        ("limitk(1, x)", "aggregation limitk() is not supported"),
        ('x{a="b" or c="d"}', "'or' between label matchers is not supported"),
        ("sum(x", "unclosed left parenthesis"),
        ("x +", "invalid promql query"),
        ("1 > 2", "comparisons between scalars must use BOOL modifier"),
        ('x{a=~"\\\\pL"}', "Unicode class \\p"),
        ('x{a=~"(?U)a+"}', "ungreedy"),
        ('label_replace(x, "1a", "", "b", "")', "invalid destination label name"),
        ('label_join(x, "a", ",", "b-c")', "invalid source label name"),
        ('count_values("a-b", x)', "invalid label name"),
        ("", "empty"),
        ("x + 1m", "the duration '1m' used as a number (column 5)"),
        ('{"my.metric"}', "a quoted metric or label name (column 2)"),
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
    with pytest.raises(PromQLError, match=r"function mad_over_time\(\) is not supported \(column 10\)"):
        compile("abs(   0+mad_over_time(x[5m]))")


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
