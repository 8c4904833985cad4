"""The app-side agent-check reply: full state, hysteresis, warm-up (spec §10.1, consumers §3)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthgauge.overload import AdminState, AgentLine


def settled(**kw: object) -> AgentLine:
    return AgentLine(start=0.0, warmup=0.0, **kw)  # type: ignore[arg-type]


def test_healthy_full_state() -> None:
    assert settled().reply(1.0, load=0.0, limit=16).line() == b"up ready 100% maxconn:16\n"


def test_weight_is_100_minus_load_with_a_floor() -> None:
    line = settled()
    assert line.reply(1.0, load=30.0, limit=8).line() == b"up ready 70% maxconn:8\n"
    line = settled()
    assert line.reply(1.0, load=100.0, limit=8).weight == 10


def test_unknown_load_fails_closed() -> None:
    assert settled().weight(1.0, math.nan) == 10
    assert settled().weight(1.0, math.inf) == 10


def test_hysteresis_5_points() -> None:
    line = settled()
    assert line.weight(0, 40.0) == 60
    assert line.weight(1, 44.0) == 60  # 56: within 5 points
    assert line.weight(2, 35.0) == 60  # 65: exactly 5, not more
    assert line.weight(3, 34.0) == 66
    assert line.weight(4, 3.0) == 97
    assert line.weight(5, 0.0) == 100  # back to full always reported


def test_warmup_ramps_from_floor() -> None:
    line = AgentLine(start=100.0, warmup=10.0)
    assert line.weight(100.0, 0.0) == 10
    assert line.weight(105.0, 0.0) == 55
    assert line.weight(110.0, 0.0) == 100
    # A loaded service during warm-up gets the lower of the two.
    loaded = AgentLine(start=0.0, warmup=10.0)
    assert loaded.weight(9.0, 80.0) == 19
    assert loaded.weight(10.0, 80.0) == 20


def test_drain_maint_down_and_back() -> None:
    line = settled()
    line.drain()
    assert line.reply(1, load=0, limit=4).line() == b"up drain 100% maxconn:4\n"
    line.maint()
    assert line.admin is AdminState.MAINT
    line.ready()
    line.down("db\nunreachable #1")
    assert line.reply(1, load=0, limit=4).line() == b"down ready 100% maxconn:4 #db unreachable #1\n"
    line.up()
    assert line.reply(1, load=0, limit=4).line() == b"up ready 100% maxconn:4\n"


def test_maxconn_can_be_left_out() -> None:
    assert settled(report_maxconn=False).reply(1, load=0, limit=9).line() == b"up ready 100%\n"
    assert settled().reply(1, load=0, limit=None).line() == b"up ready 100%\n"
    assert settled().reply(1, load=0, limit=0).line() == b"up ready 100% maxconn:1\n"


def test_bad_config() -> None:
    with pytest.raises(ValueError, match="weight_floor"):
        AgentLine(start=0, weight_floor=0)
    with pytest.raises(ValueError, match="warmup"):
        AgentLine(start=0, warmup=-1)


@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=30),
    st.integers(min_value=0, max_value=10_000),
)
def test_every_line_is_one_ascii_line_haproxy_accepts(loads: list[float], limit: int) -> None:
    line = AgentLine(start=0.0)
    for i, load in enumerate(loads):
        wire = line.reply(float(i), load=load, limit=limit).line()
        assert wire.endswith(b"\n")
        assert wire.count(b"\n") == 1
        words = wire.decode("ascii").split()
        assert words[0] in ("up", "down")
        assert words[1] in ("ready", "drain", "maint")
        assert words[2].endswith("%")
        assert 10 <= int(words[2][:-1]) <= 100
