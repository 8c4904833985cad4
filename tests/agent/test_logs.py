"""What the agent logs: one line per change of level, rate-limited scrape failures, JSON lines."""

from __future__ import annotations

import dataclasses
import io
import json
import logging

import pytest

from healthgauge.agent._logs import FailureLog, JsonFormatter, StateLog, change_line, configure
from healthgauge.health._state import Admin, TargetState

HEALTHY = TargetState(name="w", live=True, ready=True, weight=100, reason="all conditions hold")


def test_a_target_that_gets_worse_is_a_warning_with_from_to_and_reason() -> None:
    worse = dataclasses.replace(HEALTHY, ready=False, reason="app_state == 1: got 0")
    line = change_line(HEALTHY, worse)
    assert line is not None
    assert line.level == logging.WARNING
    assert line.message == "w: healthy -> unhealthy (app_state == 1: got 0)"
    assert line.fields == {"target": "w", "from": "healthy", "to": "unhealthy", "reason": "app_state == 1: got 0"}
    back = change_line(worse, HEALTHY)
    assert back is not None
    assert (back.level, back.fields["to"]) == (logging.INFO, "healthy")


def test_no_line_without_a_change_of_level_nor_while_shutting_down() -> None:
    assert change_line(HEALTHY, dataclasses.replace(HEALTHY, checks=5, reason="still fine")) is None
    assert change_line(HEALTHY, dataclasses.replace(HEALTHY, shutting_down=True)) is None


def test_a_drain_names_the_admin_state() -> None:
    line = change_line(HEALTHY, dataclasses.replace(HEALTHY, admin=Admin.MAINT))
    assert line is not None
    assert (line.level, line.message) == (logging.INFO, "w: healthy -> draining (admin maint)")


def test_scrape_failures_are_rate_limited_per_target() -> None:
    log = FailureLog("w", repeat=60.0)
    first = log.failed("connection refused", 100.0)
    assert first is not None
    assert (first.level, first.message) == (logging.WARNING, "w: scrape failed: connection refused [first failure]")
    assert [log.failed("connection refused", 100.0 + i) for i in range(1, 59)] == [None] * 58
    again = log.failed("HTTP 503 Service Unavailable", 161.0)
    assert again is not None
    assert again.message == "w: scrape failed: HTTP 503 Service Unavailable [60 in a row (58 more since the last line)]"
    back = log.succeeded(170.0)
    assert back is not None
    assert (back.level, back.message) == (logging.INFO, "w: scraping again after 60 failed scrape(s) over 70.0s")
    assert log.succeeded(171.0) is None
    assert log.failed("refused", 172.0) is not None  # a new run of failures starts over


def test_json_lines_carry_the_fields(caplog: pytest.LogCaptureFixture) -> None:
    stream = io.StringIO()
    logger = logging.getLogger("healthgauge.agent.state.test")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    try:
        StateLog(logger)(HEALTHY, dataclasses.replace(HEALTHY, live=False, reason="scrape failed: refused"))
    finally:
        logger.removeHandler(handler)
    doc = json.loads(stream.getvalue())
    assert doc["time"].endswith("Z")
    assert {k: doc[k] for k in ("level", "logger", "target", "from", "to", "reason")} == {
        "level": "warning",
        "logger": "healthgauge.agent.state.test",
        "target": "w",
        "from": "healthy",
        "to": "dead",
        "reason": "scrape failed: refused",
    }
    assert doc["message"] == "w: healthy -> dead (scrape failed: refused)"


def test_configure_refuses_unknown_values_and_replaces_handlers() -> None:
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        configure("info", "xml")
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        configure("loud", "text")
    root = logging.getLogger()
    saved, level = list(root.handlers), root.level
    try:
        stream = io.StringIO()
        first = configure("info", "text", io.StringIO())
        handler = configure("warning", "json", stream)
        assert handler in root.handlers
        assert first not in root.handlers  # replaced, and only it: pytest's own handlers stay
        assert all(h in root.handlers for h in saved if not getattr(h, "healthgauge", False))
        logging.getLogger("healthgauge.x").info("not shown")
        logging.getLogger("healthgauge.x").warning("shown %d", 1)
        assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["shown 1"]
    finally:
        root.handlers[:] = saved
        root.setLevel(level)
