"""The evaluator against a real Prometheus 2.42: same history, same expressions, same answers.

The history (support/promql_history.py) is loaded into a temporary TSDB with ``promtool tsdb
create-blocks-from openmetrics``; Prometheus serves it on a loopback port. For every expression
and evaluation time (on a sample, between samples, at the edge of and past the 5-minute lookback,
before the data) ``/api/v1/query`` is compared with our evaluation rendered exactly as
``healthgauge query --json`` renders it: the same result type, the same label sets, values within
1e-9 relative (NaN equal to NaN), and for errors an error on both sides.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from healthgauge._cmd_query import main as query_main
from healthgauge._cmd_query import prometheus_data
from healthgauge.promql import EvaluationError, History, PromQLError, compile
from support.prometheus import Prometheus, PrometheusError, create_blocks_from_openmetrics
from support.promql import S, assert_same
from support.promql_history import T0, samples, to_openmetrics

pytestmark = pytest.mark.real

TIMES = [
    T0 - 1,  # before any sample
    T0 + 60.25,  # between samples, early: short ranges are partial
    T0 + 600,  # exactly on a sample
    T0 + 607.5,  # between samples
    T0 + 700,  # inside gappy's 8-minute gap, past its lookback
    T0 + 1200,  # the last sample
    T0 + 1200 + 299.875,  # the last sample still inside the lookback
    T0 + 1200 + 300.125,  # past the lookback: instant selectors find nothing
]

EXPRESSIONS = [
    # Selectors and matchers.
    "http_requests_total",
    'http_requests_total{job="api"}',
    'http_requests_total{job!="api"}',
    'http_requests_total{code=~"2.."}',
    'http_requests_total{code=~"2"}',
    'http_requests_total{instance!~"a|c"}',
    'http_requests_total{missing=""}',
    'http_requests_total{job=~"API", code=~"(?i)5.*"}',
    '{__name__=~"queue_.*|app_state"}',
    '{__name__="queue_depth", queue=~"d.*|s.*"}',
    "queue_depth offset 1m",
    "queue_depth offset 5m",
    "queue_depth offset -2m",
    "gappy",
    "jitter",
    "weird",
    # Literals and scalars.
    "42",
    "-1.5e3",
    "NaN",
    "+Inf",
    '"a string"',
    "time()",
    "time() - 1700000000",
    "2 ^ 3 ^ 2",
    "7 % -3",
    "1 / 0",
    "-(3 - 5)",
    "1 > bool 0",
    "scalar(app_state)",
    "scalar(queue_depth)",
    # Arithmetic and comparisons with scalars.
    "queue_depth * 2 - 1",
    "queue_depth / 0",
    "queue_depth % 7",
    "queue_depth ^ 0.5",
    "-queue_depth",
    "1000 - queue_depth",
    "queue_depth > 1000",
    "1000 < queue_depth",
    "queue_depth >= bool 1000",
    "queue_depth != 500",
    "weird * 2",
    "weird > 0",
    "weird == bool weird",
    "queue_depth atan2 100",
    "time() - app_last_iteration_ts",
    "time() - app_last_iteration_ts < 60",
    "app_state == 1",
    # Vector matching.
    'http_requests_total / on(job, instance) group_left http_requests_total{code="200"}',
    'http_requests_total{code="500"} / ignoring(code) http_requests_total{code="200"}',
    "req_duration_seconds_sum / req_duration_seconds_count",
    "req_duration_seconds_count > bool req_duration_seconds_sum",
    "req_duration_seconds_count > req_duration_seconds_sum",
    "req_duration_seconds_bucket / on(instance) group_left req_duration_seconds_count",
    "req_duration_seconds_count / on(instance) group_right req_duration_seconds_bucket",
    "req_duration_seconds_bucket * on(instance) group_left(job)"
    ' label_replace(req_duration_seconds_count, "job", "j-$1", "instance", "(.*)")',
    "queue_depth + on() group_left app_state",
    "queue_depth + app_state",
    "queue_depth + ignoring(queue) app_state",
    "http_requests_total + on(job) http_requests_total",  # many-to-many: an error
    "queue_depth * on(job) group_left http_requests_total",  # duplicates on the "one" side
    "http_requests_total + on(job) group_left queue_depth",  # duplicates on the "one" side
    "queue_depth + on(job) app_state",  # one-to-one with several matches on the left
    "sum by (job) (http_requests_total) * on(job) group_left(code) http_requests_total",  # dup result
    'label_replace(http_requests_total, "instance", "x", "", "")',  # duplicate label sets
    'http_requests_total * on(instance) group_left queue_depth{queue="default"}',
    # Set operators.
    "queue_depth and app_state == 1",
    "queue_depth and on(job) app_state == 1",
    "queue_depth or temp_celsius",
    "queue_depth > 1500 or queue_depth < 100",
    "queue_depth unless on(queue) queue_depth > 1000",
    "queue_depth unless app_state",
    "gappy or vector(0)",
    # Aggregations.
    "sum(http_requests_total)",
    "sum by (job) (http_requests_total)",
    "sum without (instance) (http_requests_total)",
    "sum by (__name__) (http_requests_total)",
    "avg by (code) (http_requests_total)",
    "min(queue_depth)",
    "max by (job) (queue_depth)",
    "count(http_requests_total)",
    "count by (nope) (http_requests_total)",
    "group by (job) (http_requests_total)",
    "stddev(queue_depth)",
    "stdvar by (job) (http_requests_total)",
    "topk(2, queue_depth)",
    "bottomk(1, queue_depth)",
    "topk by (job) (1, http_requests_total)",
    "topk(scalar(app_state) + 1, queue_depth)",
    "quantile(0.5, queue_depth)",
    "quantile(0.9, http_requests_total)",
    "quantile(-1, queue_depth)",
    'count_values("value", app_state)',
    'count_values by (job) ("v", queue_depth > 1000)',
    "sum(weird)",
    "stdvar(idelta(temp_celsius[10m]))",  # 0 or 4e-31 by the order of the sum: Prometheus's is by labels
    "sum(temp_celsius * 1e15 + 0.1)",
    "avg(queue_depth / 7)",
    "avg(weird)",
    "max(weird)",
    "min(weird)",
    'count_values("v", weird)',
    "sum(temp_celsius) / count(temp_celsius)",
    # Functions.
    "abs(temp_celsius)",
    "ceil(temp_celsius)",
    "floor(temp_celsius)",
    "round(temp_celsius)",
    "round(temp_celsius, 0.5)",
    "round(temp_celsius, 3)",
    "sqrt(queue_depth)",
    "sqrt(temp_celsius)",
    "exp(temp_celsius)",
    "ln(temp_celsius)",
    "log2(queue_depth)",
    "log10(queue_depth)",
    "sgn(temp_celsius)",
    "abs(weird)",
    "ceil(weird)",
    "ln(weird)",
    "clamp(queue_depth, 100, 1000)",
    "clamp(queue_depth, 1000, 100)",
    "clamp_min(temp_celsius, 0)",
    "clamp_max(temp_celsius, 0)",
    "clamp(100 - queue_depth / 10, 0, 100)",
    "timestamp(queue_depth)",
    "timestamp(jitter)",
    "timestamp(queue_depth > 0)",
    "timestamp(jitter offset 1m)",
    "vector(1)",
    "vector(time())",
    "absent(queue_depth)",
    'absent(nonexistent{job="a", env=~"p.*", x="1", x="2"})',
    "absent(nonexistent)",
    "absent(gappy)",
    "absent_over_time(gappy[5m])",
    "absent_over_time(nonexistent[1m])",
    'label_replace(queue_depth, "q", "$1-x", "queue", "(.*)")',
    'label_replace(queue_depth, "queue", "", "queue", "d.*")',
    'label_replace(queue_depth, "new", "${1}_$2", "queue", "(b)(u)lk")',
    'label_replace(queue_depth, "new", "$1x", "queue", "(.*)")',
    'label_replace(queue_depth, "job", "same", "queue", ".*")',
    'label_join(http_requests_total, "id", ":", "job", "instance", "code")',
    'label_join(http_requests_total, "id", "", "nope")',
    "histogram_quantile(0.5, req_duration_seconds_bucket)",
    "histogram_quantile(0.99, req_duration_seconds_bucket)",
    "histogram_quantile(0, req_duration_seconds_bucket)",
    "histogram_quantile(1.5, req_duration_seconds_bucket)",
    "histogram_quantile(0.9, rate(req_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.9, sum by (le) (rate(req_duration_seconds_bucket[5m])))",
    'histogram_quantile(0.9, req_duration_seconds_bucket{le!="+Inf"})',
    "sort(queue_depth)",
    "sort_desc(queue_depth)",
    "sort(temp_celsius)",
    # Range functions.
    "rate(http_requests_total[5m])",
    "rate(http_requests_total[1m])",
    "rate(http_requests_total[30s])",
    "rate(http_requests_total[10m] offset 2m)",
    "irate(http_requests_total[5m])",
    "increase(http_requests_total[2m])",
    "increase(http_requests_total[20m])",
    "delta(queue_depth[5m])",
    "idelta(queue_depth[5m])",
    "deriv(queue_depth[5m])",
    "deriv(app_last_iteration_ts[10m])",
    "changes(app_state[10m])",
    "resets(http_requests_total[15m])",
    "avg_over_time(queue_depth[5m])",
    "min_over_time(temp_celsius[10m])",
    "max_over_time(temp_celsius[10m])",
    "sum_over_time(queue_depth[3m])",
    "count_over_time(jitter[2m])",
    "last_over_time(jitter[2m])",
    "last_over_time(gappy[10m])",
    "present_over_time(gappy[3m])",
    "quantile_over_time(0.75, temp_celsius[5m])",
    "quantile_over_time(0.5, jitter[7m])",
    "stddev_over_time(temp_celsius[5m])",
    "stdvar_over_time(queue_depth[5m])",
    "avg_over_time(weird[2m])",
    "sum_over_time(weird[2m])",
    "max_over_time(weird[5m])",
    "rate(jitter[1m])",
    "deriv(jitter[3m])",
    "changes(weird[5m])",
    "rate(gappy[5m])",
    'rate({__name__=~"http_requests_total|queue_depth"}[5m])',
    "queue_depth[1m]",
    "jitter[45s] offset 30s",
    # NaN and infinities through ordering, selection and aggregation.
    "sort(special)",
    "sort_desc(special)",
    "topk(2, special)",
    "bottomk(2, special)",
    "topk(4, special)",
    "quantile(0.5, special)",
    "quantile(0.25, special)",
    "max(special)",
    "min(special)",
    "avg(special)",
    "stddev(special)",
    'count_values("v", special)',
    'count_values without (k) ("v", special)',
    "special == special",
    "special != bool special",
    "round(special)",
    "clamp(special, 0, 1)",
    "sgn(special)",
    "special % 2",
    "special ^ 2",
    "max_over_time(special[1m])",
    "min_over_time(special[2m])",
    "quantile_over_time(0.5, special[2m])",
    "stddev_over_time(special[2m])",
    "deriv(special[2m])",
    "changes(special[5m])",
    "resets(special[5m])",
    # Odd corners.
    "timestamp(timestamp(queue_depth))",
    "timestamp((queue_depth))",
    "-(-queue_depth)",
    "(queue_depth)",
    'label_replace(queue_depth, "whole", "<$0>", "queue", "d(.*)")',
    "absent(sum(nonexistent))",
    "vector(1) and on() app_state",
    "scalar(app_state) * queue_depth",
    "queue_depth == bool on(queue) group_left queue_depth",
    "http_requests_total / ignoring(code) group_left sum without (code) (http_requests_total)",
    "queue_depth or on(job) app_state",
    "last_over_time(queue_depth[5m] offset 5m)",
    "deriv(app_state[1m])",
    "increase(app_state[10m])",
    "idelta(jitter[1m])",
    "irate(jitter[1m])",
    "histogram_quantile(0.5, req_duration_seconds_bucket offset 30s)",
    "1 - histogram_quantile(0.5, req_duration_seconds_bucket) > 0",
    "count(count by (job) (http_requests_total))",
    "sum(queue_depth) / scalar(count(queue_depth))",
    "topk(1, sum by (queue) (queue_depth))",
    "bottomk(2, rate(http_requests_total[5m]))",
    # Trigonometry, deg/rad/pi (Go's NaN and infinities where Python's math raises).
    *(f"{fn}(temp_celsius / 40)" for fn in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh")),
    *(f"{fn}(temp_celsius)" for fn in ("asinh", "acosh", "atanh", "deg", "rad", "sinh", "cosh")),
    *(f"{fn}(weird)" for fn in ("sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "atanh")),
    *(f"{fn}(weird)" for fn in ("asinh", "acosh", "deg", "rad")),
    "atanh(vector(1))",
    "atanh(vector(-1))",
    "pi()",
    "10 ^ 80",  # Go's Pow, an ulp from C's pow: sin() of it shows the difference
    "sin(vector(10 ^ 80))",
    "cos(queue_depth ^ 7)",
    "vector(1.5 ^ 2.5)",
    "vector(2 ^ -1074)",
    "pi() * 2",
    "sin(vector(pi() / 2))",
    # Date functions, with and without an argument (NaN, infinities, huge and negative times included).
    *(
        f"{fn}{arg}"
        for fn in ("year", "month", "day_of_month", "day_of_year", "day_of_week", "days_in_month", "hour", "minute")
        for arg in ("()", "(app_last_iteration_ts)", "(weird)", "(vector(-1e12))", "(vector(951782400))")
    ),
    "year(vector(1e10) * 1e9)",
    "day_of_week(temp_celsius * 1e6)",
    "days_in_month(vector(4107542400))",
    "hour(timestamp(jitter))",
    "minute() > 30",
    # predict_linear, holt_winters and its argument errors.
    "predict_linear(queue_depth[5m], 3600)",
    "predict_linear(app_last_iteration_ts[10m], 0)",
    "predict_linear(http_requests_total[5m] offset 1m, -60)",
    "predict_linear(special[2m], 60)",
    "predict_linear(jitter[3m], 30)",
    "holt_winters(queue_depth[5m], 0.5, 0.5)",
    "holt_winters(temp_celsius[10m], 0.1, 0.9)",
    "holt_winters(special[3m], 0.3, 0.3)",
    "holt_winters(queue_depth[5m], 1, 0.5)",
    "holt_winters(queue_depth[5m], 0.5, 0)",
    "holt_winters(nonexistent[5m], 2, 2)",
    # Native-histogram functions: nothing on classic histograms, as in 2.42.
    "histogram_count(req_duration_seconds_bucket)",
    "histogram_sum(req_duration_seconds_sum)",
    "histogram_fraction(0, 0.5, req_duration_seconds_bucket)",
    "histogram_count(rate(req_duration_seconds_count[5m]))",
    # Subqueries: with and without a step (default 1m), nested, offset, @, epoch-aligned steps.
    "queue_depth[5m:1m]",
    "queue_depth[5m:]",
    "queue_depth[2m:45s]",
    "queue_depth[5m:1m] offset 2m",
    "jitter[3m:20s]",
    "rate(http_requests_total[5m:1m])",
    "rate(http_requests_total[5m:30s])",
    "max_over_time(queue_depth[10m:])",
    "min_over_time(rate(http_requests_total[1m])[5m:30s])",
    "avg_over_time(sum by (job) (http_requests_total)[7m:45s])",
    "max_over_time(deriv(queue_depth[2m])[4m:1m])",
    "max_over_time(max_over_time(queue_depth[1m:10s])[3m:1m])",
    "count_over_time(gappy[10m:1m])",
    "last_over_time(gappy[10m:1m])",
    "absent_over_time(nonexistent[5m:1m])",
    "absent_over_time(gappy[2m:1m])",
    "changes(app_state[15m:1m])",
    "quantile_over_time(0.5, temp_celsius[5m:30s])",
    "holt_winters(queue_depth[5m:30s], 0.5, 0.5)",
    "predict_linear(queue_depth[5m:30s], 60)",
    "sum_over_time(vector(1)[5m:1m])",
    "vector(time())[3m:1m]",
    "increase(http_requests_total[5m:1m] offset 3m)",
    "rate(http_requests_total[5m:1m] @ 1700000600)",
    "max_over_time(queue_depth[5m:1m] @ 1700000300 offset 1m)",
    "(queue_depth * 2)[2m:30s]",
    "sum_over_time((queue_depth > 1000)[5m:15s])",
    "queue_depth[1m:7s]",
    # The @ modifier: on selectors, range selectors and subqueries; start() and end().
    "queue_depth @ 1700000600",
    "queue_depth @ 1700000600.5",
    "queue_depth @ 1700000000 offset -5m",
    "queue_depth offset 1m @ 1700000900",
    "queue_depth @ start()",
    "queue_depth @ end()",
    "rate(http_requests_total[5m] @ 1700000600)",
    "rate(http_requests_total[5m] @ end() offset 1m)",
    "max_over_time(queue_depth[5m:1m] @ end())",
    "sum(queue_depth @ 1700000300) - sum(queue_depth)",
    "queue_depth @ -1",
    "timestamp(jitter @ 1700000500)",
    "max_over_time((queue_depth @ 1700000300)[5m:1m])",
    "max_over_time(rate(http_requests_total[1m] @ end())[5m:1m])",
    "queue_depth @ 1700000600 and on(queue) queue_depth @ 1700000900 > 1000",
    # predict_linear of an @ range inside a subquery: 2.42 moves its window with the step (it is
    # "@-unsafe"), over the data of the @ window only.
    "predict_linear(queue_depth[2m] @ 1700000600, 0)[5m:1m]",
    "predict_linear(queue_depth[2m] @ 1700000600, 0)[5m:1m] offset 2m",
    "max_over_time(predict_linear(queue_depth[2m] @ end(), 60)[5m:1m])",
    'stddev(deriv((predict_linear(jitter{job="x"}[30s] offset -1m @ 1700000607.5, -120))[5m:45s] offset 1m))',
    "max_over_time(max_over_time(queue_depth[2m] @ 1700000600)[5m:1m] offset 3m)",
    # Raw (backquoted) strings: no escapes, also in label_replace's regex.
    'label_replace(http_requests_total, "c", "<$1>", "code", `(\\d)\\d+`)',
    'label_replace(named, "n", "$1", "v", `(\\pL)\\pL*`)',
    'label_replace(named, "n", `"$1"`, "v", `(\\p{Lu}).*`)',
    "named{v=~`\\p{Lu}.*`} or named{v=~`\\d`}",
    # Conditions from the README.
    "increase(http_requests_total[2m]) == 0 and queue_depth > 0",
    'queue_depth{queue="default"} < 1000',
    "sum(rate(http_requests_total[5m])) by (job) > 1",
    "max_over_time(queue_depth[5m]) - min_over_time(queue_depth[5m]) > 500",
]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("prometheus")
    om = workdir / "history.om"
    om.write_text(to_openmetrics(samples()))
    create_blocks_from_openmetrics(om, workdir / "data")
    with Prometheus(workdir, data_dir=workdir / "data") as prom:
        yield prom


@pytest.fixture(scope="module")
def store() -> History:
    return History.from_recording([S(n, v, ts, **labels) for n, labels, v, ts in samples()], default_time=T0)


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("recording") / "history.om"
    path.write_text(to_openmetrics(samples()))
    return path


def query_json(recording: Path, expr: str, at: float, capsys: pytest.CaptureFixture[str]) -> dict[str, Any] | None:
    """``healthgauge query FILE EXPR --json --at T``: its data object, or None when it exits 2."""
    code = query_main(["--json", "--at", repr(at), "--", str(recording), expr])
    out = capsys.readouterr().out
    if code == 2:
        return None
    assert code == 0, f"healthgauge query exited {code} for {expr}"
    data: dict[str, Any] = json.loads(out)
    return data


@pytest.mark.parametrize("expr", EXPRESSIONS)
def test_same_answer_as_prometheus(
    prometheus: Prometheus, recording: Path, expr: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``healthgauge query history.om EXPR --json`` against ``/api/v1/query`` at every time."""
    for at in TIMES:
        try:
            theirs = prometheus.query(expr, at=at)
        except PrometheusError as exc:
            failure = exc  # Prometheus failed at execution (HTTP 422): we must exit 2 as well
        else:
            failure = None
        ours = query_json(recording, expr, at, capsys)
        if failure is not None:
            assert failure.kind == "execution"
            assert ours is None, f"{expr} at {at}: Prometheus failed ({failure}), we answered {ours}"
            continue
        assert ours is not None, f"{expr} at {at}: we failed where Prometheus answered"
        assert_same(ours, theirs, expr, at)


@pytest.mark.parametrize("expr", EXPRESSIONS[::7])
def test_same_answer_through_the_api(prometheus: Prometheus, store: History, expr: str) -> None:
    """The library path (History.from_recording + Expr.evaluate) agrees too, errors included."""
    compiled = compile(expr)
    for at in TIMES:
        try:
            theirs = prometheus.query(expr, at=at)
        except PrometheusError as exc:
            # Prometheus failed at execution (HTTP 422): the evaluator must refuse it too.
            kind = exc.kind
        else:
            assert_same(prometheus_data(compiled.evaluate(store, at)), theirs, expr, at)
            continue
        assert kind == "execution"
        with pytest.raises(EvaluationError):
            compiled.evaluate(store, at)


def test_the_oracle_sees_the_history(prometheus: Prometheus) -> None:
    # Guards the suite itself: an empty TSDB would make every comparison trivially equal.
    data = prometheus.query("count(http_requests_total)", at=T0 + 600)
    assert data["result"][0]["value"][1] == "4"
    # ...and the error cases are errors there, so "both refuse" is a real comparison.
    with pytest.raises(PrometheusError, match="many-to-many matching not allowed"):
        prometheus.query("queue_depth * on(job) group_left http_requests_total", at=T0 + 600)
    with pytest.raises(PrometheusError, match="many-to-one matching must be explicit"):
        prometheus.query("queue_depth + on(job) app_state", at=T0 + 600)


REGEXES = [
    # Unicode classes and RE2-only syntax, in both string forms (backquotes: no escapes).
    *("\\\\pL.*", "\\\\p{Lu}.*", "\\\\PN+", "\\\\pN", "\\\\p{Greek}+", "\\\\p{Lt}", "[\\\\p{L}\\\\d]+", "\\\\d"),
    *("`\\pL+`", "`\\p{Lu}\\pL*`", "`\\PL+`", "`\\pN`", "`[^\\pL]+`", "`\\Q.\\E`", "`x\\Q.\\Ey`", "`\\w+`"),
    *("(?i)mixed", "(?i)élan", "(?U)a.*?", "(?s).+", "a/.*", "(.*/)*health", "[[:alpha:]]+", "[[:^alpha:]]+"),
    *("\\\\.", "x\\\\.y", ".", "..", "\\\\S+", "a\\\\sb", "\\\\x{01C5}", "[Σ-Ω]+", "(?i)σφ"),
]


@pytest.mark.parametrize("pattern", REGEXES)
def test_regex_as_re2_reads_it(prometheus: Prometheus, store: History, pattern: str) -> None:
    quoted = pattern if pattern.startswith("`") else f'"{pattern}"'
    for expr in (
        f"named{{v=~{quoted}}}",
        f"named{{v!~{quoted}}}",
        f'label_replace(named, "w", "<$1>", "v", "({pattern.strip("`")})")'
        if not pattern.startswith("`")
        else f"count(named{{v=~{quoted}}})",
    ):
        at = T0 + 600
        assert_same(prometheus_data(compile(expr).evaluate(store, at)), prometheus.query(expr, at=at), expr, at)


def test_regex_anchoring_against_prometheus(prometheus: Prometheus, store: History, tmp_path: Path) -> None:
    patterns = (
        "a", "a.*", ".*a", "(a|b)", "[ab]", "a|", "", ".+", "A", "(?i)A", "[[:alpha:]]", "\\\\w", "\\\\d*",
        "a$", "^a", "(?s:.)", "(?i:A)|B", "b(?i)|A", "[^a]", "[a-]", "a{1,2}", "(?:a)", "(?P<n>a)", "\\\\Aa\\\\z",
        "[[:lower:][:digit:]]", "\\\\x61", "\\\\x{61}", "a+?", "[\\\\s\\\\S]",
    )  # fmt: skip
    for pattern in patterns:
        expr = f'http_requests_total{{instance=~"{pattern}"}} or http_requests_total{{instance!~"{pattern}"}} * 0'
        for at in (T0 + 600,):
            assert_same(prometheus_data(compile(expr).evaluate(store, at)), prometheus.query(expr, at=at), expr, at)


SYNTAX = [
    # Accepted by both.
    'x{a="b",}',
    "sum by () (x)",
    "sum(x) by (a,)",
    "x[1y]",
    "x offset 1m30s",
    "x offset -1m",
    "0x1F + Inf - nan",
    "x / on(a) group_left(b, ) y",
    'label_replace(x, "a", "1m", "b", "(.*)")',
    "x # a comment",
    # Refused by both (promql-parser alone would accept the first four).
    "x + 1m",
    '{"my.metric"}',
    'x{"a.b"="c"}',
    'sum by ("a.b") (x)',
    "x[0s]",
    "x offset 1.5m",
    "1 > 2",
    "rate(x)",
    "step()",
    # Regexes: RE2 refuses these, and so does Go 1.19's RE2 (Prometheus 2.42).
    'x{a=~"(?<n>a)"}',
    'x{a=~"a++"}',
    'x{a=~"(?=a)"}',
    'x{a=~"\\\\1"}',
    "x{a=~`\\C`}",
    'x{a=~"\\pL"}',  # \p is no escape of a double-quoted string
    'x{a=~"(a"}',
    "x{a=~`a)(b`}",  # refused, though ^(?:a)(b)$ would be a valid regex
    '{a=~".*"}',
    '{a!~""}',
    'label_replace(x, "a", "b", "c", "(?<n>x)")',
    # Numbers and durations.
    "1e309",
    "-1e309",
    "1e308 * 10",
    "x[5]",
    "x[5m:5]",
    "x[5m:0s]",
    "x[5m:30ms]",  # 10,001 steps; x[5m:1ms] Prometheus answers too, but a condition is bounded (test_compile)
    "x offset 5",
    "x @ 1e19",
    "x @ 170000030m",
    "x @ 0x10",
    "x @ -Inf",
    "x @ -1e19",
    "x @ 100 @ 200",
    "sum(x) @ 100",
    "x[5m] @ start() offset 1m",
    "(x) @ 100",
    # Functions newer than 2.42, and 2.42's argument counts.
    "mad_over_time(x[5m])",
    "sort_by_label(x, 'a')",
    "limitk(1, x)",
    "double_exponential_smoothing(x[5m], 0.5, 0.5)",
    "holt_winters(x[5m], 0.5)",
    "year(x, x)",
    "pi(1)",
    "histogram_fraction(1, x)",
    "predict_linear(x, 1)",
    "time()[5m:1m]",
    "x[5m][5m:1m]",
    "rate(x[5m:1m][10m:2m])",
    "max_over_time(rate(x[5m:])[10m:2m])",
]


@pytest.mark.parametrize("text", SYNTAX)
def test_same_syntax_as_prometheus(prometheus: Prometheus, text: str) -> None:
    try:
        prometheus.query(text, at=T0)
    except PrometheusError as exc:
        refused: PrometheusError | None = exc
    else:
        refused = None
    if refused is None:
        compile(text)
        return
    # A label_replace() regex is compiled when 2.42 evaluates the call (an "execution" error);
    # we refuse it when the expression is loaded.
    assert refused.kind == "bad_data" or (refused.kind == "execution" and text.startswith("label_replace")), refused
    with pytest.raises(PromQLError):
        compile(text)


POSITIONS = [
    "sum(x",
    'x{a="b"',
    "x[5m",
    "foo{",
    "1 +\n foo bar",
    "sum by (a b) (x)",
    "x @ start",
    "x +",
    "sum(x) by",
    "x offset",
    "x and",
    'x{a~"b"}',
    "x[5]",
    "x offset 5",
    "1e309",
    "x + 1e309",
    "rate(x[5m]) >> 3",
    'x{a="b"} x',
    "mad_over_time(x[5m])",
    "abs(\n  limitk(1, x))",
    'x{a=~"\\pL"}',
    "x\n  + 5m",
]


@pytest.mark.parametrize("text", POSITIONS)
def test_errors_point_where_prometheus_points(prometheus: Prometheus, text: str) -> None:
    """The line:column of a refused expression is Prometheus's own (its message starts with it)."""
    with pytest.raises(PrometheusError) as theirs:
        prometheus.query(text, at=T0)
    assert theirs.value.kind == "bad_data"
    where = theirs.value.message.split(": parse error")[0].rpartition(" ")[2]
    with pytest.raises(PromQLError) as ours:
        compile(text)
    assert str(ours.value).startswith(where + ":"), f"Prometheus: {theirs.value.message}\nours: {ours.value}"
