"""The state table: hysteresis, admin state, shutdown and the consumers.md §10 levels."""

import dataclasses

import pytest

from healthgauge.health._state import (
    Admin,
    Condition,
    Level,
    Policy,
    Role,
    TargetState,
    Verdict,
    level_of,
    observe,
    set_admin,
    shut_down,
)

GOOD = Verdict(at=1.0, live=True, ready=True, weight=100, reason="2 conditions hold")
NOT_READY = Verdict(at=1.0, live=True, ready=False, reason="app_state == 1: got 0")
DEAD = Verdict(at=1.0, live=False, ready=False, reason="time() - ts < 60: got 312")
SCRAPE_FAILED = Verdict(at=1.0, live=False, ready=False, error="connection refused")


def run(policy: Policy, verdicts: list[Verdict], state: TargetState | None = None) -> list[TargetState]:
    state = state or TargetState(name="w")
    out = []
    for v in verdicts:
        state = observe(state, v, policy)
        out.append(state)
    return out


def test_a_fresh_target_is_live_and_not_ready() -> None:
    s = TargetState(name="w")
    assert (s.live, s.ready, s.serving, s.level) == (True, False, False, Level.UNHEALTHY)
    assert s.reason == "not checked yet"


def test_ready_after_rise_consecutive_successes() -> None:
    states = run(Policy(rise=3, fall=2), [GOOD, GOOD, GOOD])
    assert [s.ready for s in states] == [False, False, True]
    assert states[0].reason == "rising 1/3: 2 conditions hold"
    assert states[2].reason == "2 conditions hold"


def test_a_failure_while_rising_starts_the_count_again() -> None:
    states = run(Policy(rise=2, fall=2), [GOOD, NOT_READY, GOOD, GOOD])
    assert [s.ready for s in states] == [False, False, False, True]


def test_unready_after_fall_consecutive_failures_and_one_success_resets() -> None:
    ready = run(Policy(rise=1, fall=3), [GOOD])[-1]
    states = run(Policy(rise=1, fall=3), [NOT_READY, NOT_READY, GOOD, NOT_READY, NOT_READY, NOT_READY], ready)
    assert [s.ready for s in states] == [True, True, True, True, True, False]
    assert states[1].reason == "failing 2/3: app_state == 1: got 0"
    assert states[-1].reason == "app_state == 1: got 0"


def test_live_falls_after_live_fall_failures_and_revives_at_once() -> None:
    states = run(Policy(rise=1, fall=1, live_fall=2), [DEAD, DEAD, DEAD, GOOD])
    assert [s.live for s in states] == [True, False, False, True]
    assert states[0].reason == "live check failed 1/2: time() - ts < 60: got 312"
    assert states[1].level is Level.DEAD


def test_a_failed_scrape_counts_against_ready_and_live_and_keeps_the_reason() -> None:
    ready = run(Policy(rise=1, fall=2, live_fall=3), [dataclasses.replace(GOOD, weight=60, maxconn=40)])[-1]
    states = run(Policy(rise=1, fall=2, live_fall=3), [SCRAPE_FAILED] * 3, ready)
    assert [(s.ready, s.live) for s in states] == [(True, True), (False, True), (False, False)]
    assert states[0].error == "connection refused"
    assert states[0].warn  # still ready, but the failure is a concern
    assert (states[0].weight, states[0].maxconn) == (60, 40)  # the last good numbers stay
    assert states[-1].reason == "scrape failed: connection refused"


def test_a_successful_scrape_clears_the_error() -> None:
    s = run(Policy(rise=1), [SCRAPE_FAILED, GOOD])[-1]
    assert s.error == ""
    assert s.checks == 2


def test_conditions_and_time_come_from_the_verdict() -> None:
    cond = Condition(role=Role.READY, expr="app_state == 1", holds=True, summary="got 1", values=(1.0,))
    s = run(Policy(), [dataclasses.replace(GOOD, at=123.5, duration=0.002, conditions=(cond,))])[-1]
    assert (s.checked_at, s.duration, s.conditions) == (123.5, 0.002, (cond,))


def test_admin_state_overrides_serving_but_not_judgement() -> None:
    ready = run(Policy(rise=1), [GOOD])[-1]
    drained = set_admin(ready, Admin.DRAIN)
    assert (drained.ready, drained.serving, drained.level) == (True, False, Level.DRAINING)
    assert set_admin(ready, Admin.MAINT).level is Level.DRAINING
    assert set_admin(drained, Admin.READY) == ready
    # Drained and then failing: the failure shows (the admin word is rendered beside it).
    failing = run(Policy(rise=1, fall=1), [NOT_READY], drained)[-1]
    assert (failing.admin, failing.level) == (Admin.DRAIN, Level.UNHEALTHY)


def test_shutdown_drains_for_good() -> None:
    s = shut_down(run(Policy(rise=1), [GOOD])[-1])
    assert s.level is Level.DRAINING
    assert set_admin(s, Admin.READY).level is Level.DRAINING
    assert run(Policy(rise=1), [GOOD], s)[-1].level is Level.DRAINING


@pytest.mark.parametrize(
    ("changes", "level"),
    [
        ({}, Level.HEALTHY),
        ({"warn": True}, Level.DEGRADED),
        ({"weight": 60}, Level.DEGRADED),
        ({"weight": 0}, Level.OVERLOADED),
        ({"weight": 0, "admin": Admin.DRAIN}, Level.DRAINING),
        ({"shutting_down": True}, Level.DRAINING),
        ({"ready": False}, Level.UNHEALTHY),
        ({"ready": False, "admin": Admin.MAINT}, Level.UNHEALTHY),
        ({"live": False}, Level.DEAD),
        ({"live": False, "ready": True, "admin": Admin.DRAIN}, Level.DEAD),
    ],
)
def test_levels(changes: dict[str, object], level: Level) -> None:
    base = TargetState(name="w", live=True, ready=True, weight=100)
    assert level_of(dataclasses.replace(base, **changes)) is level  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["rise", "fall", "live_fall"])
def test_policy_counts_are_at_least_one(field: str) -> None:
    with pytest.raises(ValueError, match=f"{field} must be at least 1"):
        Policy(**{field: 0})  # type: ignore[arg-type]


def test_observe_carries_every_field_it_does_not_judge() -> None:
    """observe() builds the new state field by field (it is the per-scrape hot path): a field added
    to TargetState must be added there too, or it would silently fall back to its default."""
    import dataclasses as dc

    from healthgauge.health._state import Overloaded, observe

    assert [f.name for f in dc.fields(TargetState)] == [
        "name", "live", "ready", "warn", "weight", "maxconn", "admin", "shutting_down", "overloaded", "reason",
        "conditions", "error", "checked_at", "duration", "rises", "falls", "live_falls", "checks", "safeguard",
    ]  # fmt: skip
    state = TargetState(name="x", admin=Admin.MAINT, shutting_down=True, overloaded=Overloaded.FAIL, checks=4)
    after = observe(state, Verdict(at=2.0, live=True, ready=True), Policy(rise=1))
    # A safeguard speaks on top of the judged state (health/_safeguards.py), never inside it.
    assert observe(dc.replace(state, safeguard="cascade guard"), Verdict(at=2.0, live=True, ready=True),
                   Policy()).safeguard == ""  # fmt: skip
    assert (after.name, after.admin, after.shutting_down, after.overloaded, after.checks) == (
        "x", Admin.MAINT, True, Overloaded.FAIL, 5,
    )  # fmt: skip
