"""gRPC health names and statuses per level (consumers.md §10), pure."""

import dataclasses

import pytest

from healthgauge.health._grpc import NOT_SERVING, SERVING, all_statuses, service_names, serving_status
from healthgauge.health._state import Admin, Level, Overloaded, TargetState

H = TargetState(name="a", live=True, ready=True, weight=100)
B = TargetState(name="b", live=True, ready=True, weight=100)
S, N = SERVING, NOT_SERVING

# level of "a" (b stays healthy) -> "", "readiness", "liveness", "a", "a.live", "b", "b.live"
CASES = [
    (Level.HEALTHY, {}, (S, S, S, S, S, S, S)),
    (Level.DEGRADED, {"weight": 40, "warn": True}, (S, S, S, S, S, S, S)),
    (Level.OVERLOADED, {"weight": 0, "maxconn": 3}, (S, S, S, S, S, S, S)),
    # overloaded = "fail": readiness names NOT_SERVING, liveness untouched (consumers.md §10 policy)
    (Level.OVERLOADED, {"weight": 0, "overloaded": Overloaded.FAIL}, (N, N, S, N, S, S, S)),
    (Level.DEGRADED, {"weight": 1, "overloaded": Overloaded.FAIL}, (S, S, S, S, S, S, S)),
    (Level.DRAINING, {"admin": Admin.DRAIN}, (N, N, S, N, S, S, S)),
    (Level.DRAINING, {"admin": Admin.MAINT}, (N, N, S, N, S, S, S)),
    (Level.UNHEALTHY, {"ready": False}, (N, N, S, N, S, S, S)),
    (Level.DEAD, {"live": False, "ready": False}, (N, N, N, N, N, S, S)),
    (Level.DRAINING, {"shutting_down": True}, (N, N, N, N, N, N, N)),
]


@pytest.mark.parametrize(("level", "changes", "want"), CASES)
def test_each_level_over_every_name(level: Level, changes: dict[str, object], want: tuple[int, ...]) -> None:
    a = dataclasses.replace(H, **changes)  # type: ignore[arg-type]
    assert a.level is level
    states = {"a": a, "b": B}
    assert tuple(all_statuses(states).values()) == want
    assert list(all_statuses(states)) == ["", "readiness", "liveness", "a", "a.live", "b", "b.live"]


def test_stopping_turns_every_name_not_serving() -> None:
    assert set(all_statuses({"a": H}, stopping=True).values()) == {NOT_SERVING}


def test_unknown_names_are_none() -> None:
    states = {"a": H}
    for name in ("b", "a.liv", ".live", "A", "a.live.live", " a"):
        assert serving_status(name, states) is None


def test_colliding_names_are_refused() -> None:
    assert service_names(["a"]) == ("", "readiness", "liveness", "a", "a.live")
    for targets in (["a", "a.live"], ["readiness"], ["liveness"]):
        with pytest.raises(ValueError, match="would mean two things"):
            service_names(targets)
