"""The History store: scrape after scrape with Prometheus's staleness, bounded, and built cheaply."""

from __future__ import annotations

import pytest

from healthgauge.promql import History, compile
from support.promql import S


def values(store: History, text: str, at: float) -> list[float]:
    return [v for _, v in compile(text).evaluate(store, at).series()]


def test_from_scrape_is_one_instant() -> None:
    store = History.from_scrape([S("x", 1, job="a"), S("x", 2, job="b"), S("y", 3)], now=100)
    assert values(store, "x", 100) == [1, 2]
    assert values(store, "y", 100 + 300) == [3]
    assert values(store, "y", 100 + 301) == []
    assert len(store) == 3


def test_first_of_two_identical_series_wins() -> None:
    store = History.from_scrape([S("x", 1, job="a"), S("x", 2, job="a")], now=100)
    assert values(store, "x", 100) == [1]


def test_empty_label_value_is_an_absent_label() -> None:
    store = History.from_scrape([S("x", 1, job="")], now=100)
    assert compile("x").evaluate(store, 100).series() == [({"__name__": "x"}, 1)]


def test_series_missing_from_a_scrape_turns_stale() -> None:
    store = History()
    store.add_scrape([S("x", 1, job="a"), S("x", 2, job="b")], now=0)
    store.add_scrape([S("x", 3, job="a")], now=15)
    assert values(store, "x", 15) == [3]
    assert values(store, "x", 14.999) == [1, 2]
    store.add_scrape([S("x", 4, job="a"), S("x", 5, job="b")], now=30)
    assert values(store, "x", 30) == [4, 5]
    assert values(store, "count_over_time(x[1m])", 30) == [3, 2]  # the stale marker is not a sample


def test_failed_scrape_marks_every_series_stale() -> None:
    store = History()
    store.add_scrape([S("x", 1, job="a"), S("y", 2)], now=0)
    store.add_failed_scrape(now=15)
    assert values(store, "x", 15) == []
    assert values(store, "y", 20) == []
    assert values(store, "x", 10) == [1]
    store.add_scrape([S("y", 3)], now=30)
    assert values(store, "y", 30) == [3]


def test_explicit_timestamps_follow_honor_timestamps() -> None:
    store = History()
    store.add_scrape([S("x", 1, timestamp=5.0), S("y", 1)], now=10)
    assert values(store, "timestamp(x)", 10) == [5]
    # Not newer than the last sample: dropped, as Prometheus rejects out-of-order samples.
    store.add_scrape([S("x", 2, timestamp=5.0), S("y", 2)], now=20)
    assert values(store, "x", 20) == [1]
    # A series with its own timestamps is never marked stale by a later scrape.
    store.add_scrape([S("y", 3)], now=30)
    assert values(store, "x", 30) == [1]


def test_retention_and_sample_cap_bound_the_ring() -> None:
    store = History(retention=60, max_samples=3)
    for i in range(10):
        store.add_scrape([S("x", i)], now=i * 10)
    assert store.statistics() == {"series": 1, "samples": 3}
    store = History(retention=60)
    for i in range(10):
        store.add_scrape([S("x", i)], now=i * 10)
    assert store.statistics() == {"series": 1, "samples": 7}  # 30 s .. 90 s
    store.add_failed_scrape(now=100)
    store.add_failed_scrape(now=1000)
    assert store.statistics() == {"series": 0, "samples": 0}


def test_recording_keeps_the_first_sample_of_a_timestamp_and_sorts() -> None:
    store = History.from_recording(
        [S("x", 2, timestamp=20), S("x", 1, timestamp=10), S("x", 9, timestamp=10), S("y", 7)], default_time=30
    )
    assert compile("x[1m]").evaluate(store, 30).matrix() == [({"__name__": "x"}, [(10.0, 1.0), (20.0, 2.0)])]
    assert values(store, "y", 30) == [7]


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="retention"):
        History(retention=0)


def test_a_series_that_ages_out_and_returns_is_a_new_series() -> None:
    store = History(retention=60)
    store.add_scrape([S("x", 1, job="a", instance="i")], now=0)
    store.add_failed_scrape(now=10)
    store.add_failed_scrape(now=100)  # the stale series is past retention: dropped
    assert store.statistics() == {"series": 0, "samples": 0}
    store.add_scrape([S("x", 2, instance="i", job="a")], now=110)  # labels in another order
    store.add_scrape([S("x", 3, job="a", instance="i")], now=120)
    assert compile("x[1m]").evaluate(store, 120).matrix() == [
        ({"__name__": "x", "instance": "i", "job": "a"}, [(110.0, 2.0), (120.0, 3.0)])
    ]


def test_latest_sample_outlives_a_short_retention_within_the_lookback() -> None:
    store = History(retention=1)
    store.add_scrape([S("x", 1), S("z", 7, timestamp=50.0)], now=60)  # z: its own time, 10 s old
    store.add_scrape([S("x", 2), S("z", 7, timestamp=50.0)], now=70)
    assert values(store, "z", 70) == [7]
    assert values(store, "x", 70) == [2]
    assert store.statistics()["samples"] == 2
    store.add_scrape([S("x", 3)], now=400)  # z's sample is now past the lookback: gone
    assert values(store, "z", 400) == []
    assert store.statistics() == {"series": 1, "samples": 1}


@pytest.mark.parametrize(
    "text",
    [
        "max_over_time(rate(reqs[1m])[5m:30s])",
        "max_over_time(deriv(depth[2m])[4m:])",
        "avg_over_time(depth[3m:15s] offset 1m)",
        "predict_linear(depth[5m:45s], 60)",
        "holt_winters(depth[5m], 0.3, 0.6)",
        "depth @ end() - depth offset 2m",
        "max_over_time(rate(reqs[1m] @ end())[3m:1m])",
    ],
)
def test_the_agents_history_answers_as_the_recording_does(text: str) -> None:
    """Scrape after scrape (the agent's store, with trimming) and the same samples recorded (the
    store the differential suite checks against Prometheus) give the same answers."""
    scrapes = [(1000.0 + 15 * i, [S("reqs", 7.0 * i + (i % 3)), S("depth", float((i * 37) % 11))]) for i in range(60)]
    agent = History(retention=compile(text).max_range + 60)
    for now, samples in scrapes:
        agent.add_scrape(samples, now)
    recorded = History.from_recording(
        [S(s.name, s.value, now) for now, samples in scrapes for s in samples], default_time=0
    )
    at = scrapes[-1][0]
    assert values(agent, text, at) == values(recorded, text, at)
    assert values(agent, text, at)  # not trivially empty
