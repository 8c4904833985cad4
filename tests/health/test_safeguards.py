"""Damping and the cascade guard together, over judged states: what consumers are told."""

from healthgauge.health._cascade import Guard
from healthgauge.health._damping import Damping
from healthgauge.health._safeguards import Group, Safeguards
from healthgauge.health._state import Admin, TargetState

D = Damping(penalty=1000, suppress=2000, reuse=750, half_life=10, max_suppress=40)


def st(name: str, ready: bool, weight: int = 100, reason: str = "", admin: Admin = Admin.READY) -> TargetState:
    return TargetState(name=name, ready=ready, weight=weight, reason=reason, admin=admin)


def test_without_settings_states_pass_through() -> None:
    guards = Safeguards({}, {})
    state = st("a", False, reason="down")
    assert guards.publish({"a": state}, "a") == [state]


def test_a_flapping_target_is_held_and_says_so() -> None:
    guards = Safeguards({"a": D}, {})
    for now, ready in [(0, True), (1, False), (2, True), (3, False)]:
        guards.checked(st("a", ready), now)
    [shown] = guards.publish({"a": st("a", False, reason="q < 0.05: got 0.2")}, "a")
    assert shown.ready
    assert shown.warn
    assert shown.reason.startswith("flap damping: held ready (penalty ")
    assert shown.reason.endswith("; q < 0.05: got 0.2")
    assert guards.statistics().suppressed == {"a"}
    guards.checked(st("a", False), 40.0)  # decayed below reuse: released
    assert guards.publish({"a": st("a", False)}, "a")[0].ready is False
    assert guards.statistics().suppressed == frozenset()


def test_the_guard_keeps_the_healthiest_of_a_group_and_republishes_the_others() -> None:
    guards = Safeguards({}, {"pg": Group(guard=Guard(max_unready=0.5), members=("pg1", "pg2"))})
    guards.publish({"pg1": st("pg1", True), "pg2": st("pg2", True)}, "pg1")  # both seen ready
    judged = {"pg1": st("pg1", False, weight=30, reason="slow"), "pg2": st("pg2", False, weight=60, reason="slow")}
    shown = {s.name: s for s in guards.publish(judged, "pg1")}
    assert set(shown) == {"pg1", "pg2"}
    assert (shown["pg1"].serving, shown["pg2"].serving) == (False, True)
    assert shown["pg2"].reason == (
        "cascade guard: kept in service, 2 of 2 in group pg would be out (at most 50% may be); slow"
    )
    assert guards.statistics().decisions["pg"].kept == ("pg2",)
    judged["pg1"] = st("pg1", True)
    shown = {s.name: s for s in guards.publish(judged, "pg1")}
    assert (shown["pg1"].serving, shown["pg2"].serving) == (True, False)
    assert not guards.statistics().decisions["pg"].active


def test_an_operators_drain_is_never_overridden() -> None:
    guards = Safeguards({}, {"g": Group(guard=Guard(max_unready=0.5), members=("a", "b"))})
    judged = {"a": st("a", True, admin=Admin.DRAIN), "b": st("b", True, admin=Admin.DRAIN)}
    assert [s.serving for s in guards.publish(judged, "a")] == [False, False]


def test_the_guard_never_keeps_a_target_it_has_not_seen_ready() -> None:
    guards = Safeguards({}, {"g": Group(guard=Guard(max_unready=0.5), members=("a", "b"))})
    fresh = {"a": st("a", False, reason="rising 1/2"), "b": st("b", False, reason="rising 1/2")}
    assert [s.serving for s in guards.publish(fresh, "a")] == [False, False]
    assert not guards.statistics().decisions["g"].active


def test_a_group_member_alone_is_republished_while_the_decision_stands() -> None:
    guards = Safeguards({}, {"g": Group(guard=Guard(max_unready=0.5), members=("a", "b", "c"))})
    judged = {n: st(n, True) for n in "abc"}
    assert [s.name for s in guards.publish(judged, "a")] == ["a", "b", "c"]  # the first decision
    assert [s.name for s in guards.publish(judged, "b")] == ["b"]
    judged["c"] = st("c", False)
    assert [s.name for s in guards.publish(judged, "c")] == ["a", "b", "c"]  # out moved 0 -> 1
