"""Condition outcomes: holds, and the summary and values a person and health+json need."""

from __future__ import annotations

import pytest

from healthgauge.health import FAIL, PASS, judge
from healthgauge.promql import EvaluationError, History, compile
from support.promql import S, load

NOW = 1000.0


def scrape(*samples: S) -> History:
    return History.from_scrape(samples, NOW)


def test_freshness_idiom_reports_the_age() -> None:
    outcome = compile("time() - app_last_iteration_ts < 60").condition(scrape(S("app_last_iteration_ts", 687.6)), NOW)
    assert not outcome.holds
    assert outcome.summary == "got 312.4"
    assert outcome.values == (({}, pytest.approx(312.4)),)


def test_state_idiom() -> None:
    outcome = compile("app_state == 1").condition(scrape(S("app_state", 1)), NOW)
    assert outcome.holds
    assert outcome.summary == "got 1"
    assert outcome.values == (({"__name__": "app_state"}, 1.0),)


def test_missing_metric_fails_closed_and_says_so() -> None:
    outcome = compile("app_state == 1").condition(scrape(S("other", 1)), NOW)
    assert not outcome.holds
    assert outcome.summary == "no series matched app_state"
    outcome = compile("time() - app_last_iteration_ts < 60").condition(scrape(), NOW)
    assert outcome.summary == "no series matched app_last_iteration_ts"


def test_several_series_name_the_labels_that_differ() -> None:
    store = scrape(
        S("queue_depth", 1500, queue="default", job="w"),
        S("queue_depth", 12, queue="bulk", job="w"),
    )
    outcome = compile("queue_depth > 2000").condition(store, NOW)
    assert outcome.summary == 'got 1500 {queue="default"}, 12 {queue="bulk"}'
    assert compile('queue_depth{queue="default"} < 1000').condition(store, NOW).summary == "got 1500"


def test_long_summaries_are_cut() -> None:
    store = scrape(*(S("q", i, queue=f"queue-{i}") for i in range(100)))
    summary = compile("q > 1000").condition(store, NOW).summary
    assert summary.endswith("(95 more)")
    assert len(summary) < 300


def test_stuck_worker_idiom_reports_what_made_it_fail() -> None:
    def at(processed: str, depth: str) -> History:
        return load("1m", f"jobs_processed_total {processed}", f"queue_depth {depth}")

    expr = compile("increase(jobs_processed_total[2m]) == 0 and queue_depth > 0")
    stuck = expr.condition(at("5 5 5", "3 3 3"), 120)
    assert stuck.holds
    working = expr.condition(at("5 6 9", "3 3 3"), 120)
    assert not working.holds
    assert working.summary == "got 4"  # the increase, which is not 0
    idle = expr.condition(at("5 5 5", "0 0 0"), 120)
    assert not idle.holds
    assert idle.summary == "got 0"  # the queue depth, which is not > 0


def test_or_and_unless() -> None:
    store = scrape(S("a", 1), S("b", 2))
    assert compile("a > 5 or b > 5").condition(store, NOW).summary == "got 1; got 2"
    assert not compile("a unless b").condition(store, NOW).holds
    assert compile("a unless c").condition(store, NOW).holds


def test_scalars_hold_when_non_zero_and_not_nan() -> None:
    store = scrape(S("a", 1))
    assert compile("scalar(a)").condition(store, NOW).holds
    assert not compile("scalar(a) - 1").condition(store, NOW).holds
    assert not compile("scalar(nope)").condition(store, NOW).holds  # NaN: cannot tell


def test_evaluation_error_does_not_hold() -> None:
    store = scrape(S("a", 1, x="1"), S("a", 2, x="2"), S("b", 1))
    outcome = compile("a + on() b").condition(store, NOW)
    assert not outcome.holds
    assert outcome.error is not None
    assert "many-to-one matching must be explicit" in outcome.summary


def test_outcomes_feed_judge() -> None:
    store = scrape(S("app_state", 0))
    judgement = judge([("app_state == 1", compile("app_state == 1").condition(store, NOW))])
    assert judgement.status == FAIL
    assert judgement.reason == "app_state == 1: got 0"
    assert judge([("app_state < 1", compile("app_state < 1").condition(store, NOW))]).status == PASS


def test_number_for_weights() -> None:
    store = scrape(S("queue_depth", 250), S("q", 1, a="1"), S("q", 2, a="2"))
    assert compile("clamp(100 - queue_depth / 10, 0, 100)").number(store, NOW) == 75
    assert compile("scalar(queue_depth) / 10").number(store, NOW) == 25
    with pytest.raises(EvaluationError, match="no series matched nope"):
        compile("nope * 2").number(store, NOW)
    with pytest.raises(EvaluationError, match="got 2 series"):
        compile("q").number(store, NOW)
    with pytest.raises(EvaluationError, match="got NaN"):
        compile("scalar(q)").number(store, NOW)


def test_too_few_samples_for_a_rate_is_said() -> None:
    outcome = compile("rate(jobs_total[1m]) > 0").condition(scrape(S("jobs_total", 5)), NOW)
    assert not outcome.holds
    assert outcome.summary == "rate() needs 2 samples in jobs_total[1m], no series had them"
