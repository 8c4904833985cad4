"""Random expressions against a real Prometheus: a seeded generator composes selectors, functions,
aggregations and operators over the recorded history; each is evaluated at random instants by
Prometheus and by us, and the answers must agree (or both must refuse).

Left out of the generator on purpose: topk/bottomk/sort (ties are broken by Go's heap order, which
PromQL leaves unspecified); they are covered on tie-free data by the fixed suite.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from healthgauge._cmd_query import prometheus_data
from healthgauge.promql import EvaluationError, History, PromQLError, compile
from support.prometheus import Prometheus, PrometheusError, create_blocks_from_openmetrics
from support.promql import S, assert_same
from support.promql_history import T0, samples, to_openmetrics

pytestmark = pytest.mark.real

FAMILIES = {
    "http_requests_total": {"job": ["api", "web"], "instance": ["a", "b"], "code": ["200", "500"]},
    "queue_depth": {"queue": ["default", "bulk", "slow"], "job": ["worker"]},
    "temp_celsius": {"room": ["lab", "cold"]},
    "special": {"k": ["0", "1", "2", "3"]},
    "req_duration_seconds_bucket": {"instance": ["a", "b"], "le": ["0.1", "0.5", "+Inf"]},
    "req_duration_seconds_count": {"instance": ["a", "b"]},
    "jitter": {"job": ["x"]},
    "gappy": {"job": ["x"]},
    "app_state": {"job": ["worker"]},
}
RANGES = ["30s", "1m", "2m", "5m", "10m"]
MATH = ["abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "sgn", "round"]
RANGE_FNS = [
    "rate", "irate", "increase", "delta", "idelta", "deriv", "changes", "resets", "avg_over_time",
    "min_over_time", "max_over_time", "sum_over_time", "count_over_time", "last_over_time",
    "present_over_time", "stddev_over_time", "stdvar_over_time",
]  # fmt: skip
AGGREGATIONS = ["sum", "min", "max", "avg", "count", "stddev", "stdvar", "group"]
ARITHMETIC = ["+", "-", "*", "/", "%", "^"]
COMPARISONS = ["==", "!=", ">", "<", ">=", "<="]


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def selector(self) -> tuple[str, list[str]]:
        rng = self.rng
        name = rng.choice(list(FAMILIES))
        labels = FAMILIES[name]
        matchers = []
        for label, values in labels.items():
            roll = rng.random()
            if roll < 0.15:
                matchers.append(f'{label}="{rng.choice(values)}"')
            elif roll < 0.25:
                matchers.append(f'{label}!="{rng.choice(values)}"')
            elif roll < 0.32:
                matchers.append(f'{label}=~"{rng.choice(values)[0].lstrip("+")}.*"')
        text = name + ("{" + ",".join(matchers) + "}" if matchers else "")
        if rng.random() < 0.15:
            text += f" offset {rng.choice(['30s', '1m', '3m'])}"
        return text, list(labels)

    def scalar(self, depth: int) -> str:
        rng = self.rng
        roll = rng.random()
        if depth <= 0 or roll < 0.5:
            return rng.choice(["0", "1", "2", "0.5", "-1", "10", "1000", "1e-3"])
        if roll < 0.6:
            return "time()"
        if roll < 0.75:
            return f"scalar({self.vector(depth - 1)[0]})"
        return f"({self.scalar(depth - 1)} {rng.choice(ARITHMETIC)} {self.scalar(depth - 1)})"

    def vector(self, depth: int) -> tuple[str, list[str]]:
        """An instant-vector expression and the labels its series may carry."""
        rng = self.rng
        if depth <= 0:
            return self.selector()
        roll = rng.random()
        if roll < 0.2:
            sel, labels = self.selector()
            sel = (
                sel.replace(" offset", f"[{rng.choice(RANGES)}] offset")
                if " offset" in sel
                else f"{sel}[{rng.choice(RANGES)}]"
            )
            fn = rng.choice(RANGE_FNS)
            if rng.random() < 0.1:
                return f"quantile_over_time({rng.choice(['0', '0.5', '0.9', '1'])}, {sel})", labels
            return f"{fn}({sel})", labels
        if roll < 0.32:
            inner, labels = self.vector(depth - 1)
            fn = rng.choice(MATH)
            if fn == "round" and rng.random() < 0.5:
                return f"round({inner}, {rng.choice(['0.1', '5', '-2'])})", labels
            return f"{fn}({inner})", labels
        if roll < 0.47:
            inner, labels = self.vector(depth - 1)
            op = rng.choice(AGGREGATIONS)
            grouping = rng.sample(labels, k=min(len(labels), rng.randint(0, 2)))
            if not grouping:
                return f"{op}({inner})", []
            if rng.random() < 0.5:
                return f"{op} by ({', '.join(grouping)}) ({inner})", grouping
            return f"{op} without ({', '.join(grouping)}) ({inner})", [lb for lb in labels if lb not in grouping]
        if roll < 0.52:
            inner, labels = self.vector(depth - 1)
            return f"quantile({rng.choice(['0.1', '0.5', '0.99'])}, {inner})", []
        if roll < 0.57:
            inner, labels = self.vector(depth - 1)
            return f"clamp({inner}, {rng.choice(['0', '-5'])}, {rng.choice(['10', '100'])})", labels
        if roll < 0.75:
            inner, labels = self.vector(depth - 1)
            scalar = self.scalar(depth - 1)
            op = rng.choice(ARITHMETIC + COMPARISONS)
            bool_ = " bool" if op in COMPARISONS and rng.random() < 0.4 else ""
            if rng.random() < 0.5:
                return f"({inner} {op}{bool_} {scalar})", labels
            return f"({scalar} {op}{bool_} {inner})", labels
        if roll < 0.92:
            lhs, l_labels = self.vector(depth - 1)
            rhs, r_labels = self.vector(depth - 1)
            op = rng.choice(ARITHMETIC + COMPARISONS + ["and", "or", "unless"])
            common = [lb for lb in l_labels if lb in r_labels]
            modifier = ""
            if common and rng.random() < 0.6:
                modifier = f" on({', '.join(rng.sample(common, k=rng.randint(1, len(common))))})"
            elif rng.random() < 0.3:
                modifier = " on()"
            bool_ = " bool" if op in COMPARISONS and rng.random() < 0.3 else ""
            if modifier and op not in ("and", "or", "unless") and rng.random() < 0.3:
                modifier += " group_left()" if rng.random() < 0.5 else " group_right()"
            return f"({lhs} {op}{bool_}{modifier} {rhs})", l_labels
        if roll < 0.96:
            inner, labels = self.vector(depth - 1)
            return f'label_replace({inner}, "copy", "$1", "{rng.choice(labels or ["job"])}", "(.*)")', [*labels, "copy"]
        if roll < 0.965:
            inner, labels = self.vector(depth - 1)
            return f"absent({inner})", []
        if roll < 0.97:
            inner, labels = self.vector(depth - 1)
            return f'count_values("v", {inner})', ["v"]
        if roll < 0.975:
            q = rng.choice(["0.5", "0.9", "0", "1"])
            buckets = self.selector()[0].split(" offset")[0] if rng.random() < 0.3 else "req_duration_seconds_bucket"
            if rng.random() < 0.5:
                buckets = f"rate({buckets}[{rng.choice(RANGES)}])"
            return f"histogram_quantile({q}, {buckets})", ["instance"]
        if roll < 0.98:
            inner, labels = self.vector(depth - 1)
            sources = ", ".join(f'"{label}"' for label in labels) or '"x"'
            return f'label_join({inner}, "joined", "-", {sources})', [*labels, "joined"]
        inner, labels = self.vector(depth - 1)
        return f"timestamp({inner})", labels


TRIG = ["sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "deg", "rad"]
DATES = ["year", "month", "day_of_month", "day_of_year", "day_of_week", "days_in_month", "hour", "minute"]
STEPS = ["", "10s", "15s", "30s", "45s", "1m", "2m", "7s"]
# The vector selectors' @ times: on a sample, between samples, before the data, the query's own.
ATS = ["1700000300", "1700000607.5", "1699999000", "1700001200", "start()", "end()"]


class Generator242(Generator):
    """The same grammar, and what 2.42 has beyond it: subqueries (nested, offset, @, default and
    odd steps), the @ modifier, trigonometry, dates, predict_linear, holt_winters, the native
    histogram functions."""

    def selector(self) -> tuple[str, list[str]]:
        text, labels = super().selector()
        if self.rng.random() < 0.12 and " offset" not in text:
            # After an offset, so that a range the caller inserts before " offset" comes first.
            text += f" offset {self.rng.choice(['1ms', '-1m'])} @ {self.rng.choice(ATS)}"
        return text, labels

    def vector(self, depth: int) -> tuple[str, list[str]]:
        rng = self.rng
        if depth <= 0 or rng.random() < 0.6:
            return super().vector(depth)
        roll = rng.random()
        inner, labels = self.vector(depth - 1)
        if roll < 0.35:
            sub = f"({inner})[{rng.choice(RANGES)}:{rng.choice(STEPS)}]"
            if rng.random() < 0.2:
                sub += f" offset {rng.choice(['30s', '1m', '3m'])}"
            if rng.random() < 0.15:
                sub += f" @ {rng.choice(ATS)}"
            fn = rng.choice([*RANGE_FNS, "predict_linear", "holt_winters"])
            if fn == "predict_linear":
                return f"predict_linear({sub}, {rng.choice(['60', '-30', '0'])})", labels
            if fn == "holt_winters":
                return f"holt_winters({sub}, {rng.choice(['0.1', '0.5'])}, {rng.choice(['0.3', '0.9'])})", labels
            return f"{fn}({sub})", labels
        if roll < 0.55:
            return f"{rng.choice(TRIG)}({inner})", labels
        if roll < 0.7:
            if rng.random() < 0.3:
                return f"{rng.choice(DATES)}()", []
            return f"{rng.choice(DATES)}({inner})", labels
        if roll < 0.85:
            sel, labels = self.selector()
            if rng.random() < 0.3:
                sel = f"({sel})[{rng.choice(RANGES)}:{rng.choice(STEPS)}]"
            elif " offset" in sel:
                sel = sel.replace(" offset", f"[{rng.choice(RANGES)}] offset")
            else:
                sel = f"{sel}[{rng.choice(RANGES)}]"
            if rng.random() < 0.5:
                return f"predict_linear({sel}, {rng.choice(['60', '3600', '-120'])})", labels
            return f"holt_winters({sel}, {rng.choice(['0.2', '0.8'])}, {rng.choice(['0.1', '0.6'])})", labels
        fn = rng.choice(["histogram_count", "histogram_sum"])
        return f"{fn}({inner})", labels


def expressions_242(count: int) -> list[str]:
    gen = Generator242(seed=242)
    return [gen.vector(gen.rng.randint(1, 3))[0] for _ in range(count)]


def expressions(count: int) -> list[str]:
    gen = Generator(seed=42)
    return [gen.vector(gen.rng.randint(1, 3))[0] for _ in range(count)]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("prometheus-random")
    om = workdir / "history.om"
    om.write_text(to_openmetrics(samples()))
    create_blocks_from_openmetrics(om, workdir / "data")
    with Prometheus(workdir, data_dir=workdir / "data") as prom:
        yield prom


@pytest.fixture(scope="module")
def store() -> History:
    return History.from_recording([S(n, v, ts, **labels) for n, labels, v, ts in samples()], default_time=T0)


@pytest.mark.parametrize("index", range(100))
def test_random_expressions_agree(prometheus: Prometheus, store: History, index: int) -> None:
    agree(prometheus, store, index, expressions(1000)[index * 10 : (index + 1) * 10])


@pytest.mark.parametrize("index", range(60))
def test_random_expressions_of_the_rest_of_2_42_agree(prometheus: Prometheus, store: History, index: int) -> None:
    """Subqueries, @, trigonometry, dates, predict_linear, holt_winters, mixed into the same grammar."""
    agree(prometheus, store, 1000 + index, expressions_242(600)[index * 10 : (index + 1) * 10])


def agree(prometheus: Prometheus, store: History, seed: int, exprs: list[str]) -> None:
    rng = random.Random(seed)
    for expr in exprs:
        compiled = compile(expr)
        for _ in range(3):
            # Anywhere; on a sample; exactly a range or the lookback after one (the closed edges), or 1 ms past.
            edge = rng.choice([0, 30, 60, 120, 300, 600]) + rng.choice([0, 0, 0.001])
            at = T0 + rng.choice([rng.randint(-60, 1600) + rng.choice([0, 0.125, 7.5]), rng.randint(0, 80) * 15 + edge])
            try:
                theirs = prometheus.query(expr, at=at)
            except PrometheusError as exc:
                failure: PrometheusError | None = exc
            else:
                failure = None
            if failure is not None:
                assert failure.kind == "execution", f"{expr}: {failure}"
                with pytest.raises(EvaluationError):
                    compiled.evaluate(store, at)
                continue
            assert_same(prometheus_data(compiled.evaluate(store, at)), theirs, expr, at)


MUTATIONS = [
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    " ",
    "1",
    "m",
    "@",
    ":",
    "by",
    "offset",
    "bool",
    "=",
    "~",
    '"',
    "x",
    ".",
]


def mutated(count: int) -> list[str]:
    """Generated expressions with one character deleted, inserted or replaced: mostly invalid."""
    rng = random.Random(15)
    out = []
    for text in (expressions(count // 2) + expressions_242(count // 2))[:count]:
        i = rng.randrange(len(text))
        roll = rng.random()
        if roll < 0.4:
            out.append(text[:i] + text[i + 1 :])
        else:
            out.append(text[:i] + rng.choice(MUTATIONS) + text[i + (roll >= 0.8) :])
    return out


@pytest.mark.parametrize("index", range(20))
def test_mutated_expressions_are_refused_where_prometheus_refuses_them(prometheus: Prometheus, index: int) -> None:
    """What 2.42 refuses to parse (bad_data) is refused when compiled, and what it parses compiles,
    except label_replace()/label_join()/count_values() label arguments, which 2.42 checks when it evaluates the call
    (an "execution" error) and we when the expression is loaded."""
    for text in mutated(400)[index * 20 : (index + 1) * 20]:
        try:
            prometheus.query(text, at=T0 + 600)
        except PrometheusError as exc:
            refused = exc.kind == "bad_data"
            by_label_function = exc.kind == "execution" and ("label_" in exc.message or "label name" in exc.message)
        else:
            refused = by_label_function = False
        try:
            compile(text)
        except PromQLError:
            assert refused or by_label_function, f"we refuse what Prometheus 2.42 parses: {text!r}"
        else:
            assert not refused, f"we accept what Prometheus 2.42 refuses: {text!r}"
