"""Operators and functions, one case each, from the PromQL documentation's definitions.

Expected values are worked out by hand from the definitions (and Prometheus's own test data where
the documentation leaves room); the differential suite checks the same ground against Prometheus.
"""

from __future__ import annotations

import math

import pytest

from healthgauge.promql import EvaluationError, History, compile
from support.promql import load


def vec(store: History, text: str, at: float) -> dict[str, float]:
    """The result as {'{a="b"}' or 'name{a="b"}': value} for compact expectations."""
    out = {}
    for labels, value in compile(text).evaluate(store, at).series():
        name = labels.pop("__name__", "")
        out[name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"] = value
    return out


def scalar(store: History, text: str, at: float) -> float:
    return compile(text).evaluate(store, at).scalar


@pytest.fixture(scope="module")
def http() -> History:
    return load(
        "1m",
        'http_requests{job="api",instance="0",group="production"} 0+10x10',
        'http_requests{job="api",instance="1",group="production"} 0+20x10',
        'http_requests{job="api",instance="0",group="canary"} 0+30x10',
        'http_requests{job="app",instance="0",group="production"} 0+50x10',
        'http_requests{job="app",instance="1",group="canary"} 0+80x10',
    )


class TestSelectors:
    def test_latest_sample_within_lookback(self) -> None:
        store = load("1m", "x 1 2 3")
        assert vec(store, "x", 90) == {"x{}": 2}
        assert vec(store, "x", 120) == {"x{}": 3}
        assert vec(store, "x", 120 + 300) == {"x{}": 3}  # the lookback window is closed
        assert vec(store, "x", 120 + 300.001) == {}
        assert vec(store, "x", -1) == {}

    def test_stale_marker_hides_the_series(self) -> None:
        store = load("1m", "x 1 stale 3")
        assert vec(store, "x", 60) == {}
        assert vec(store, "x", 119) == {}
        assert vec(store, "x", 120) == {"x{}": 3}

    def test_offset(self) -> None:
        store = load("1m", "x 1 2 3")
        assert vec(store, "x offset 1m", 120) == {"x{}": 2}
        assert vec(store, "x offset -1m", 0) == {"x{}": 2}

    def test_matchers(self, http: History) -> None:
        assert set(vec(http, 'http_requests{job="app"}', 600)) == {
            'http_requests{group="production",instance="0",job="app"}',
            'http_requests{group="canary",instance="1",job="app"}',
        }
        assert len(vec(http, 'http_requests{job!="app"}', 600)) == 3
        assert len(vec(http, 'http_requests{group=~"canary"}', 600)) == 2
        assert len(vec(http, 'http_requests{group=~"can"}', 600)) == 0  # fully anchored
        assert len(vec(http, 'http_requests{group!~"c.*"}', 600)) == 3
        assert len(vec(http, 'http_requests{missing=""}', 600)) == 5  # "" matches an absent label
        assert len(vec(http, '{__name__=~"http_.*", job="api"}', 600)) == 3

    def test_regex_syntax_of_re2(self) -> None:
        store = load("1m", 'x{a="Abc"} 1', 'x{a="abc\\n"} 2', 'x{a="9"} 3')
        assert vec(store, 'x{a=~"(?i)abc"}', 0) == {'x{a="Abc"}': 1}
        assert vec(store, 'x{a=~"[[:upper:]]bc"}', 0) == {'x{a="Abc"}': 1}
        assert vec(store, 'x{a=~"\\\\d"}', 0) == {'x{a="9"}': 3}
        assert vec(store, 'x{a=~"abc$"}', 0) == {}  # RE2's $ does not match before a final newline
        assert vec(store, 'x{a=~"A(?i)BC|9"}', 0) == {'x{a="Abc"}': 1, 'x{a="9"}': 3}

    def test_range_selector(self) -> None:
        result = compile("x[2m]").evaluate(load("1m", "x 1 2 3 4"), 180)
        assert result.kind == "matrix"
        assert result.matrix() == [({"__name__": "x"}, [(60.0, 2.0), (120.0, 3.0), (180.0, 4.0)])]


class TestOperators:
    def test_arithmetic_drops_the_name(self, http: History) -> None:
        assert vec(http, 'http_requests{job="api",group="canary"} * 2 + 1', 600) == {
            '{group="canary",instance="0",job="api"}': 601
        }

    def test_go_float_semantics(self) -> None:
        store = load("1m", "x 0", "y -8")
        assert vec(store, "1 / x", 0) == {"{}": math.inf}
        assert math.isnan(vec(store, "x / x", 0)["{}"])
        assert math.isnan(vec(store, "5 % x", 0)["{}"])
        assert math.isnan(vec(store, "y ^ 0.5", 0)["{}"])
        assert vec(store, "y ^ 3", 0) == {"{}": -512}
        assert vec(store, "-y", 0) == {"{}": 8}

    def test_scalar_arithmetic_and_bool(self) -> None:
        store = History()
        assert scalar(store, "2 ^ 3 ^ 2", 0) == 512
        assert scalar(store, "7 % 3 - 1", 0) == 0
        assert scalar(store, "1 < bool 2", 0) == 1

    def test_comparison_filters_and_bool(self) -> None:
        store = load("1m", 'x{a="1"} 1', 'x{a="2"} 2')
        assert vec(store, "x > 1", 0) == {'x{a="2"}': 2}
        assert vec(store, "1 < x", 0) == {'x{a="2"}': 2}  # the vector's value, on either side
        assert vec(store, "x > bool 1", 0) == {'{a="1"}': 0, '{a="2"}': 1}

    def test_vector_matching(self, http: History) -> None:
        store = load("1m", 'a{x="1",y="1"} 10', 'a{x="2",y="1"} 20', 'b{x="1"} 2', 'b{x="2"} 4', 'c{y="1"} 5')
        assert vec(store, "a / on(x) b", 0) == {'{x="1"}': 5, '{x="2"}': 5}
        assert vec(store, "a / ignoring(y) b", 0) == {'{x="1"}': 5, '{x="2"}': 5}
        assert vec(store, "a * on(y) group_left c", 0) == {'{x="1",y="1"}': 50, '{x="2",y="1"}': 100}
        assert vec(store, "c * on(y) group_right a", 0) == {'{x="1",y="1"}': 50, '{x="2",y="1"}': 100}
        assert vec(store, 'a > on(y) group_left(z) label_replace(c, "z", "q", "", "")', 0) == {
            'a{x="1",y="1",z="q"}': 10,
            'a{x="2",y="1",z="q"}': 20,
        }

    def test_many_to_many_is_an_error(self) -> None:
        store = load("1m", 'a{x="1",y="1"} 10', 'a{x="2",y="1"} 20', 'c{y="1"} 5', 'c{y="1",z="2"} 6')
        with pytest.raises(EvaluationError, match="many-to-one matching must be explicit"):
            compile("a * on(y) c{z=''}").evaluate(store, 0)
        with pytest.raises(EvaluationError, match="found duplicate series for the match group"):
            compile("a * on(y) group_left c").evaluate(store, 0)

    def test_set_operators(self) -> None:
        store = load("1m", 'a{x="1"} 1', 'a{x="2"} 2', 'b{x="2"} 20', 'b{x="3"} 30')
        assert vec(store, "a and b", 0) == {'a{x="2"}': 2}
        assert vec(store, "a unless b", 0) == {'a{x="1"}': 1}
        assert vec(store, "a or b", 0) == {'a{x="1"}': 1, 'a{x="2"}': 2, 'b{x="3"}': 30}
        assert vec(store, "a and on() b", 0) == {'a{x="1"}': 1, 'a{x="2"}': 2}


class TestAggregations:
    def test_by_and_without(self, http: History) -> None:
        assert vec(http, "sum by (job) (http_requests)", 600) == {'{job="api"}': 600, '{job="app"}': 1300}
        assert vec(http, "sum without (instance, group) (http_requests)", 600) == vec(
            http, "sum by (job) (http_requests)", 600
        )
        assert vec(http, "count(http_requests)", 600) == {"{}": 5}
        assert vec(http, "avg by (job) (http_requests)", 600) == {'{job="api"}': 200, '{job="app"}': 650}
        assert vec(http, "min(http_requests)", 600) == {"{}": 100}
        assert vec(http, "max(http_requests)", 600) == {"{}": 800}
        assert vec(http, "group by (job) (http_requests)", 600) == {'{job="api"}': 1, '{job="app"}': 1}

    def test_stddev_stdvar(self, http: History) -> None:
        # api: 100, 200, 300 -> mean 200, variance 20000/3
        assert vec(http, 'stdvar(http_requests{job="api"})', 600)["{}"] == pytest.approx(20000 / 3)
        assert vec(http, 'stddev(http_requests{job="api"})', 600)["{}"] == pytest.approx(math.sqrt(20000 / 3))

    def test_topk_bottomk(self, http: History) -> None:
        top = compile("topk(2, http_requests)").evaluate(http, 600).series()
        assert [v for _, v in top] == [800, 500]
        assert top[0][0]["__name__"] == "http_requests"
        assert [v for _, v in compile("bottomk by (job) (1, http_requests)").evaluate(http, 600).series()] == [
            100,
            500,
        ]
        assert vec(http, "topk(0, http_requests)", 600) == {}

    def test_quantile_interpolates(self, http: History) -> None:
        # 100, 200, 300, 500, 800: rank 0.9*4 = 3.6 -> 500 + 0.6*300
        assert vec(http, "quantile(0.9, http_requests)", 600) == {"{}": pytest.approx(680)}
        assert vec(http, "quantile(2, http_requests)", 600) == {"{}": math.inf}

    def test_count_values(self) -> None:
        store = load("1m", 'x{a="1"} 1', 'x{a="2"} 1', 'x{a="3"} 0.5')
        assert vec(store, 'count_values("v", x)', 0) == {'{v="1"}': 2, '{v="0.5"}': 1}


class TestFunctions:
    def test_math(self) -> None:
        store = load("1m", "x -2.5")
        assert vec(store, "abs(x)", 0) == {"{}": 2.5}
        assert vec(store, "ceil(x)", 0) == {"{}": -2}
        assert vec(store, "floor(x)", 0) == {"{}": -3}
        assert vec(store, "round(x)", 0) == {"{}": -2}  # halves round up
        assert vec(store, "round(x, 2)", 0) == {"{}": -2}
        assert vec(store, "sgn(x)", 0) == {"{}": -1}
        assert math.isnan(vec(store, "sqrt(x)", 0)["{}"])
        assert math.isnan(vec(store, "ln(x)", 0)["{}"])
        assert vec(store, "exp(abs(x) * 1000)", 0) == {"{}": math.inf}
        assert vec(store, "log2(abs(x) * 0 + 8)", 0) == {"{}": 3}
        assert vec(store, "log10(abs(x) * 0 + 1000)", 0) == {"{}": 3}

    def test_clamp(self) -> None:
        store = load("1m", 'x{a="1"} -5', 'x{a="2"} 50')
        assert vec(store, "clamp(x, 0, 10)", 0) == {'{a="1"}': 0, '{a="2"}': 10}
        assert vec(store, "clamp(x, 10, 0)", 0) == {}
        assert vec(store, "clamp_min(x, 0)", 0) == {'{a="1"}': 0, '{a="2"}': 50}
        assert vec(store, "clamp_max(x, 0)", 0) == {'{a="1"}': -5, '{a="2"}': 0}

    def test_time_timestamp_vector_scalar(self) -> None:
        store = load("1m", "x 1 2")
        assert scalar(store, "time()", 90) == 90
        assert vec(store, "timestamp(x)", 90) == {"{}": 60}
        assert vec(store, "timestamp(x + 0)", 90) == {"{}": 90}
        assert vec(store, "vector(time())", 5) == {"{}": 5}
        assert scalar(store, "scalar(x)", 90) == 2
        assert math.isnan(scalar(store, "scalar(nope)", 90))

    def test_absent(self) -> None:
        store = load("1m", "x 1")
        assert vec(store, "absent(x)", 0) == {}
        assert vec(store, 'absent(nope{job="a",env=~"p.*"})', 0) == {'{job="a"}': 1}
        assert vec(store, "absent_over_time(nope[5m])", 0) == {"{}": 1}
        assert vec(store, "absent_over_time(x[5m])", 0) == {}

    def test_label_replace_and_join(self) -> None:
        store = load("1m", 'up{instance="host:9100",job="node"} 1')
        assert vec(store, 'label_replace(up, "host", "$1", "instance", "(.*):.*")', 0) == {
            'up{host="host",instance="host:9100",job="node"}': 1
        }
        # No match leaves the series as it was; $1x is the (missing) group named "1x".
        assert vec(store, 'label_replace(up, "h", "$1x", "instance", "(.*)")', 0) == {
            'up{instance="host:9100",job="node"}': 1
        }
        assert vec(store, 'label_join(up, "both", "/", "job", "instance")', 0) == {
            'up{both="node/host:9100",instance="host:9100",job="node"}': 1
        }

    def test_histogram_quantile(self) -> None:
        store = load(
            "1m",
            'h_bucket{le="0.1"} 10',
            'h_bucket{le="0.5"} 60',
            'h_bucket{le="1"} 90',
            'h_bucket{le="+Inf"} 100',
        )
        # rank 50 falls in (0.1, 0.5]: 0.1 + 0.4 * (40 / 50)
        assert vec(store, "histogram_quantile(0.5, h_bucket)", 0) == {"{}": pytest.approx(0.42)}
        assert vec(store, "histogram_quantile(0.99, h_bucket)", 0) == {"{}": 1}  # in +Inf: the last bound

    def test_sort(self) -> None:
        store = load("1m", 'x{a="1"} 3', 'x{a="2"} 1', 'x{a="3"} 2')
        assert [v for _, v in compile("sort(x)").evaluate(store, 0).series()] == [1, 2, 3]
        assert [v for _, v in compile("sort_desc(x)").evaluate(store, 0).series()] == [3, 2, 1]


class TestRangeFunctions:
    def test_rate_increase_extrapolate(self) -> None:
        store = load("1m", "c 0+10x10")
        assert vec(store, "increase(c[5m])", 600) == {"{}": pytest.approx(50)}
        assert vec(store, "rate(c[5m])", 600) == {"{}": pytest.approx(50 / 300)}
        # Samples 60..90 at 360..540 s, 30 s inside each end of [330, 570]: 30 over 180 s sampled,
        # extrapolated by the 30 s on each side (under 1.1 x the 60 s spacing) to 240 s.
        assert vec(store, "increase(c[4m])", 570) == {"{}": pytest.approx(30 * 240 / 180)}
        # A counter is not extrapolated below zero: its 0 at 0 s is where it starts, so only the
        # end of [-30, 270] is extrapolated: 40 over 240 s sampled, to 270 s.
        assert vec(store, "increase(c[5m])", 270) == {"{}": pytest.approx(40 * 270 / 240)}

    def test_counter_reset(self) -> None:
        store = load("1m", "c 10 20 5 15")
        # 20 -> 5 is a reset: increase 10 + 5 + 10 = 25 over the 3 min sampled, extrapolated to 3 min
        assert vec(store, "increase(c[3m])", 180) == {"{}": pytest.approx(25)}
        assert vec(store, "resets(c[3m])", 180) == {"{}": 1}
        assert vec(store, "irate(c[3m])", 180) == {"{}": pytest.approx(10 / 60)}

    def test_gauge_functions(self) -> None:
        store = load("1m", "g 1 3 2 6")
        assert vec(store, "delta(g[3m])", 180) == {"{}": pytest.approx(5)}
        assert vec(store, "idelta(g[3m])", 180) == {"{}": 4}
        assert vec(store, "changes(g[3m])", 180) == {"{}": 3}
        assert vec(store, "deriv(g[3m])", 180) == {"{}": pytest.approx(1.4 / 60)}
        assert vec(store, "avg_over_time(g[3m])", 180) == {"{}": 3}
        assert vec(store, "sum_over_time(g[3m])", 180) == {"{}": 12}
        assert vec(store, "min_over_time(g[3m])", 180) == {"{}": 1}
        assert vec(store, "max_over_time(g[3m])", 180) == {"{}": 6}
        assert vec(store, "count_over_time(g[3m])", 180) == {"{}": 4}
        assert vec(store, "last_over_time(g[3m])", 180) == {"g{}": 6}  # keeps its name
        assert vec(store, "present_over_time(g[3m])", 180) == {"{}": 1}
        assert vec(store, "quantile_over_time(0.5, g[3m])", 180) == {"{}": 2.5}
        assert vec(store, "stdvar_over_time(g[3m])", 180) == {"{}": pytest.approx(3.5)}
        assert vec(store, "stddev_over_time(g[3m])", 180) == {"{}": pytest.approx(math.sqrt(3.5))}

    def test_fewer_than_two_samples_give_nothing(self) -> None:
        store = load("1m", "c 1")
        assert vec(store, "rate(c[5m])", 0) == {}
        assert vec(store, "deriv(c[5m])", 0) == {}
        assert vec(store, "changes(c[5m])", 0) == {"{}": 0}

    def test_stale_samples_are_not_in_ranges(self) -> None:
        store = load("1m", "c 1 2 stale 4")
        assert vec(store, "count_over_time(c[5m])", 180) == {"{}": 3}

    def test_duplicate_labelsets_after_dropping_the_name(self) -> None:
        store = load("1m", 'a{x="1"} 1 2', 'b{x="1"} 1 2')
        with pytest.raises(EvaluationError, match="same labelset"):
            compile('rate({__name__=~"a|b"}[5m])').evaluate(store, 60)
