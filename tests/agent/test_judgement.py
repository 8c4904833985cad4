"""One target's verdict from its rules (pure, with the in-test engine)."""

from healthgauge.agent._config import parse_config
from healthgauge.agent.judge._judgement import evaluate, failed
from healthgauge.health._state import Role
from support.fake_engine import FakeEngine

ENGINE = FakeEngine()
TARGET = parse_config(
    """
[[targets]]
name = "w"
url = "http://127.0.0.1:1/metrics"
live = ["age < 60"]
ready = ["app_state == 1"]
warn = ["queue_depth > 100"]
weight = "weight_hint"
maxconn = "slots"
""",
    ENGINE,
).targets[0]


def verdict(**samples: float):  # type: ignore[no-untyped-def]
    history = ENGINE.history(0)
    history.add_scrape(dict(samples), 10.0)
    return evaluate(TARGET, ENGINE, history, 10.0, duration=0.003)


def test_all_good() -> None:
    v = verdict(age=1, app_state=1, queue_depth=3, weight_hint=100, slots=40)
    assert (v.live, v.ready, v.warn, v.weight, v.maxconn) == (True, True, False, 100, 40)
    assert v.reason == "1 condition holds"
    assert (v.at, v.duration, v.error) == (10.0, 0.003, "")
    assert [(c.role, c.expr, c.holds, c.values) for c in v.conditions] == [
        (Role.LIVE, "age < 60", True, (1.0,)),
        (Role.READY, "app_state == 1", True, (1.0,)),
        (Role.WARN, "queue_depth > 100", False, (3.0,)),
        (Role.WEIGHT, "weight_hint", True, (100.0,)),
        (Role.MAXCONN, "slots", True, (40.0,)),
    ]


def test_warn_and_clamped_numbers() -> None:
    v = verdict(age=1, app_state=1, queue_depth=300, weight_hint=140.6, slots=0.2)
    assert (v.ready, v.warn, v.weight, v.maxconn) == (True, True, 100, 1)
    assert v.reason == "queue_depth > 100: got 300"
    low = verdict(age=1, app_state=1, queue_depth=3, weight_hint=-5, slots=7.6)
    assert (low.weight, low.warn, low.reason) == (0, False, "weight 0: weight_hint")
    assert verdict(age=1, app_state=1, queue_depth=3, weight_hint=59.5, slots=7.6).maxconn == 8


def test_not_ready_and_not_live_say_why() -> None:
    v = verdict(age=1, app_state=0, queue_depth=3, weight_hint=100, slots=4)
    assert (v.live, v.ready, v.reason) == (True, False, "app_state == 1: got 0")
    v = verdict(age=300, app_state=1, queue_depth=3, weight_hint=100, slots=4)
    assert (v.live, v.ready, v.reason) == (False, True, "age < 60: got 300")


def test_missing_numbers_fail_closed() -> None:
    v = verdict(age=1, app_state=1, queue_depth=3)
    assert (v.ready, v.warn, v.weight, v.maxconn) == (True, True, 0, 1)
    assert v.reason == "weight weight_hint: no series matched weight_hint; maxconn slots: no series matched slots"


def test_a_missing_condition_series_fails_closed() -> None:
    v = verdict(age=1, queue_depth=3, weight_hint=100, slots=4)
    assert (v.ready, v.reason) == (False, "app_state == 1: no series matched app_state")


def test_no_rules_means_a_good_scrape_is_enough() -> None:
    bare = parse_config('[[targets]]\nname = "b"\nurl = "http://x/"\n', ENGINE).targets[0]
    v = evaluate(bare, ENGINE, ENGINE.history(0), 1.0)
    assert (v.live, v.ready, v.warn, v.weight, v.maxconn) == (True, True, False, 100, None)


def test_failed_scrape() -> None:
    v = failed("HTTP 500", 5.0, duration=0.1)
    assert (v.live, v.ready, v.error, v.reason, v.at) == (False, False, "HTTP 500", "scrape failed: HTTP 500", 5.0)


def test_unchanged_outcomes_keep_their_condition_objects() -> None:
    history = ENGINE.history(0)
    history.add_scrape({"age": 1, "app_state": 1, "queue_depth": 3, "weight_hint": 100, "slots": 40}, 10.0)
    first = evaluate(TARGET, ENGINE, history, 10.0)
    history.add_scrape({"age": 2, "app_state": 1, "queue_depth": 3, "weight_hint": 100, "slots": 40}, 11.0)
    second = evaluate(TARGET, ENGINE, history, 11.0, previous=first.conditions)
    same = [a is b for a, b in zip(first.conditions, second.conditions, strict=True)]
    assert same == [False, True, True, True, True]  # only "age < 60" saw a new value
    assert second.conditions[0].values == (2.0,)
    assert second == evaluate(TARGET, ENGINE, history, 11.0)  # reuse never changes the verdict
    # Conditions of other rules (a changed config, a stale tuple) are never taken for these.
    other = evaluate(TARGET, ENGINE, history, 11.0, previous=second.conditions[1:])
    assert all(a is not b for a, b in zip(other.conditions, second.conditions[1:], strict=False))
