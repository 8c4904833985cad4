"""The HAProxy agent-check renderer, by table: every level, reasons, and the grammar's pitfalls."""

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthgauge.health import parse_agent_request, render_agent_reply, render_agent_unknown, sanitize_agent_reason
from healthgauge.health._haproxy import MAX_REASON, MAX_REQUEST
from healthgauge.health._state import Admin, Level, TargetState

HEALTHY = TargetState(name="web", live=True, ready=True, weight=100, reason="2 conditions hold")

CASES = [
    # (level, state changes, reply)
    (Level.HEALTHY, {}, b"up ready 100%\n"),
    (Level.DEGRADED, {"weight": 60}, b"up ready 60%\n"),
    (Level.DEGRADED, {"warn": True}, b"up ready 100%\n"),
    (Level.DEGRADED, {"weight": 60, "maxconn": 40}, b"up ready 60% maxconn:40\n"),
    (Level.OVERLOADED, {"weight": 0, "maxconn": 7}, b"up ready 0% maxconn:7\n"),
    (Level.DRAINING, {"admin": Admin.DRAIN, "weight": 30}, b"up drain 30%\n"),
    (Level.DRAINING, {"admin": Admin.MAINT}, b"up maint 100%\n"),
    (Level.DRAINING, {"shutting_down": True}, b"up drain 100%\n"),
    (Level.UNHEALTHY, {"ready": False, "reason": "no progress for 312s"}, b"down ready 100% #no progress for 312s\n"),
    (
        Level.UNHEALTHY,
        {"ready": False, "admin": Admin.DRAIN, "maxconn": 5, "reason": "x"},
        b"down drain 100% maxconn:5 #x\n",
    ),
    (
        Level.DEAD,
        {"live": False, "ready": False, "reason": "scrape failed: refused"},
        b"down ready 100% #scrape failed: refused\n",
    ),
]


@pytest.mark.parametrize(("level", "changes", "reply"), CASES)
def test_every_level_renders_the_full_state(level: Level, changes: dict[str, object], reply: bytes) -> None:
    state = dataclasses.replace(HEALTHY, **changes)  # type: ignore[arg-type]
    assert state.level is level
    assert render_agent_reply(state) == reply


def test_a_fresh_target_is_down_with_zero_weight() -> None:
    assert render_agent_reply(TargetState(name="web")) == b"down ready 0% #not checked yet\n"


def test_a_configured_maxconn_rule_without_a_number_lifts_the_limit() -> None:
    assert render_agent_reply(HEALTHY, limits_maxconn=True) == b"up ready 100% maxconn:0\n"
    assert (
        render_agent_reply(dataclasses.replace(HEALTHY, maxconn=9), limits_maxconn=True) == b"up ready 100% maxconn:9\n"
    )


def test_weights_are_clamped_to_a_percentage() -> None:
    assert render_agent_reply(dataclasses.replace(HEALTHY, weight=250)) == b"up ready 100%\n"
    assert render_agent_reply(dataclasses.replace(HEALTHY, weight=-3)) == b"up ready 0%\n"
    assert render_agent_reply(dataclasses.replace(HEALTHY, maxconn=-1)) == b"up ready 100% maxconn:0\n"


@pytest.mark.parametrize(
    ("reason", "sent"),
    [
        ("db down\nFATAL", "db down FATAL"),
        ("a\r\nb\tc\x00d\x1be", "a b c d e"),
        ("latency 3 µs, p99", "latency 3 ?s, p99"),
        ("  spaced   out  ", "spaced out"),
        ("#already, a sharp", "#already, a sharp"),
        ("", "not ready"),
        ("\n\n", "no reason given"),
    ],
)
def test_reasons_are_one_printable_ascii_line(reason: str, sent: str) -> None:
    state = dataclasses.replace(HEALTHY, ready=False, reason=reason)
    assert render_agent_reply(state) == f"down ready 100% #{sent}\n".encode()


def test_long_reasons_are_cut_with_an_ellipsis() -> None:
    reply = render_agent_reply(dataclasses.replace(HEALTHY, ready=False, reason="x" * 1000))
    reason = reply.decode().split(" #", 1)[1].rstrip("\n")
    assert len(reason) == MAX_REASON
    assert reason.endswith("...")


def test_unknown_names_fail_closed_and_say_which() -> None:
    assert render_agent_unknown("be_app/s9") == b"down #healthgauge has no target named 'be_app/s9'\n"
    assert render_agent_unknown("a\nb").count(b"\n") == 1


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"", ""),
        (b"web\n", "web"),
        (b"web\r\n", "web"),
        (b"  web  \n", "web"),
        (b"web\nignored\n", "web"),
        (b"be_app/s1", "be_app/s1"),
        (b"w" * (MAX_REQUEST + 50), "w" * MAX_REQUEST),
    ],
)
def test_parse_request_takes_the_first_line(data: bytes, name: str) -> None:
    assert parse_agent_request(data) == name


@given(
    st.builds(
        TargetState,
        name=st.just("t"),
        live=st.booleans(),
        ready=st.booleans(),
        warn=st.booleans(),
        weight=st.integers(-10, 300),
        maxconn=st.none() | st.integers(-5, 10_000),
        admin=st.sampled_from(Admin),
        shutting_down=st.booleans(),
        reason=st.text(),
    ),
    st.booleans(),
)
def test_every_reply_is_one_line_haproxy_2_6_understands(state: TargetState, limits_maxconn: bool) -> None:
    reply = render_agent_reply(state, limits_maxconn=limits_maxconn)
    text = reply.decode("ascii")
    assert text.endswith("\n")
    assert text.count("\n") == 1
    assert "\r" not in text
    head, sharp, reason = text.rstrip("\n").partition(" #")
    words = head.split(" ")
    assert words[0] in ("up", "down")
    assert words[1] in ("ready", "drain", "maint")
    assert words[2].endswith("%")
    assert 0 <= int(words[2][:-1]) <= 100
    assert all(w.startswith("maxconn:") for w in words[3:])
    assert not any(w.startswith("weight:") for w in words)
    # `#` is its own word and only when down; the reason is printable.
    assert bool(sharp) == (words[0] == "down")
    assert reason.isprintable()
    assert sanitize_agent_reason(state.reason).isprintable()
