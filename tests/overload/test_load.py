"""Load 0–100 → HAProxy agent weight and maxconn (spec §10.1)."""

from __future__ import annotations

import pytest

from healthgauge.overload import (
    AgentReport,
    AgentState,
    ConfigError,
    LoadReporter,
    combine,
    full_state_line,
    weight_for_load,
)
from healthgauge.testing import FakeClock


@pytest.mark.parametrize(("load", "weight"), [(0, 100), (30, 70), (95, 10), (100, 10), (-5, 100)])
def test_weight_never_reaches_an_accidental_drain(load: int, weight: int) -> None:
    assert weight_for_load(load) == weight


def test_reports_weight_and_maxconn_after_warmup() -> None:
    clock = FakeClock(100)
    reporter = LoadReporter(clock=clock, warmup=0)
    report = reporter.report(30, limit=17.6)
    assert report == AgentReport(weight=70, maxconn=17, state=AgentState.READY, load=30)
    assert full_state_line(report) == b"up ready 70% maxconn:17\n"
    assert full_state_line(reporter.report(0, limit=float("inf"))) == b"up ready 100%\n"


def test_warmup_ramps_linearly_from_the_floor() -> None:
    clock = FakeClock(0)
    reporter = LoadReporter(clock=clock, hysteresis=0)
    assert reporter.report(0).weight == 10
    clock.set(5)
    assert reporter.report(0).weight == 55
    assert reporter.report(80).weight == 20  # the live value wins when lower
    clock.set(10)
    assert reporter.report(0).weight == 100


def test_changes_within_five_points_are_not_reported() -> None:
    clock = FakeClock(0)
    reporter = LoadReporter(clock=clock, warmup=0)
    assert reporter.report(40).weight == 60
    assert reporter.report(44).weight == 60
    assert reporter.report(36).weight == 60
    assert reporter.report(50).weight == 50
    assert reporter.report(2).weight == 98
    assert reporter.report(0).weight == 100  # the bounds are always reported


def test_drain_maint_and_down_words() -> None:
    clock = FakeClock(0)
    reporter = LoadReporter(clock=clock, warmup=0)
    reporter.drain()
    assert full_state_line(reporter.report(0, 10)) == b"up drain\n"
    reporter.maintenance()
    assert full_state_line(reporter.report(0, 10)) == b"up maint\n"
    reporter.fail("database  schema\nmismatch")
    assert full_state_line(reporter.report(0, 10)) == b"down ready #database schema mismatch\n"
    reporter.ready()
    assert full_state_line(reporter.report(0, 10)) == b"up ready 100% maxconn:10\n"


def test_combine_sums_limits_and_takes_the_worst_load() -> None:
    a = AgentReport(weight=80, maxconn=10, state=AgentState.READY, load=20)
    b = AgentReport(weight=40, maxconn=12, state=AgentState.READY, load=60)
    assert combine([a, b]) == AgentReport(weight=40, maxconn=22, state=AgentState.READY, load=60)
    drain = AgentReport(weight=None, maxconn=None, state=AgentState.DRAIN, load=0)
    assert combine([a, drain]).state is AgentState.DRAIN
    with pytest.raises(ConfigError):
        combine([])


def test_reporter_validates() -> None:
    with pytest.raises(ConfigError, match="weight_floor"):
        LoadReporter(weight_floor=0)
