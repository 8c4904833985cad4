import pytest

from healthgauge.health import FAIL, PASS, WARN, describe, judge


class Seen:
    """An evaluated condition as judgement sees it."""

    def __init__(self, holds: bool, summary: str = "") -> None:
        self.holds = holds
        self.summary = summary


def test_all_required_hold_and_no_warning_passes() -> None:
    j = judge([("app_state == 1", Seen(True, "got 1"))], [("queue_depth > 100", Seen(False, "got 3"))])
    assert (j.status, j.name, j.reason) == (PASS, "pass", "1 condition holds")
    assert judge([("a", Seen(True)), ("b", Seen(True))]).reason == "2 conditions hold"


def test_a_failing_required_condition_fails_with_its_observed_value() -> None:
    fresh = ("time() - app_last_iteration_ts < 60", Seen(False, "got 312.4"))
    j = judge([("app_state == 1", Seen(True)), fresh], [("queue_depth > 100", Seen(True, "got 500"))])
    assert j.status == FAIL
    assert j.reason == "time() - app_last_iteration_ts < 60: got 312.4"
    assert j.failed == (fresh,)
    assert j.warned == ()


def test_every_failing_condition_is_named() -> None:
    j = judge([("a > 1", Seen(False, "got 0")), ("b > 1", Seen(False, "no series matched b"))])
    assert j.reason == "a > 1: got 0; b > 1: no series matched b"


def test_warn_only_when_required_conditions_hold() -> None:
    j = judge([("up == 1", Seen(True))], [("queue_depth > 100", Seen(True, "got 500")), ("x > 1", Seen(False))])
    assert (j.status, j.reason) == (WARN, "queue_depth > 100: got 500")


@pytest.mark.parametrize(("summary", "expected"), [("got 2", "a: got 2"), ("", "a")])
def test_describe(summary: str, expected: str) -> None:
    assert describe("a", Seen(False, summary)) == expected
