"""The cascade guard, as a table: which targets of a group are kept in service, and why."""

import pytest

from healthgauge.health._cascade import Decision, Guard, decide, describe
from healthgauge.health._state import Admin, Condition, Role, TargetState


def member(
    name: str, *, ready: bool, live: bool = True, weight: int = 100, holding: int = 0, admin: Admin = Admin.READY
) -> TargetState:
    conditions = tuple(Condition(role=Role.READY, expr=f"c{i}", holds=i < holding) for i in range(2))
    return TargetState(name=name, live=live, ready=ready, weight=weight, admin=admin, conditions=conditions)


HALF = Guard(max_unready=0.5)


@pytest.mark.parametrize(
    ("total", "share", "minimum"), [(1, 0.5, 1), (2, 0.5, 1), (3, 0.5, 2), (4, 0.5, 2), (10, 0.3, 7), (4, 0.0, 4)]
)
def test_min_serving(total: int, share: float, minimum: int) -> None:
    assert Guard(max_unready=share).min_serving(total) == minimum


def test_nothing_kept_while_the_out_share_is_within_the_limit() -> None:
    states = [member("a", ready=True), member("b", ready=False)]
    assert decide(states, HALF) == Decision(total=2, out=1, min_serving=1)
    assert not decide(states, HALF).active


def test_all_out_keeps_the_healthiest_by_conditions_then_weight() -> None:
    states = [
        member("a", ready=False, weight=90, holding=0),
        member("b", ready=False, weight=10, holding=1),
        member("c", ready=False, weight=80, holding=0),
        member("d", ready=False, weight=50, holding=0),
    ]
    decision = decide(states, HALF)
    assert decision.kept == ("b", "a")
    assert (decision.out, decision.total, decision.min_serving) == (4, 4, 2)


def test_equal_health_prefers_the_one_kept_before_then_the_name() -> None:
    states = [member("a", ready=False, weight=40), member("b", ready=False, weight=40)]
    assert decide(states, HALF).kept == ("a",)
    assert decide(states, HALF, kept_before={"b"}).kept == ("b",)


def test_the_one_kept_stays_kept_when_the_others_figures_cross_it() -> None:
    """A group degrading together: pg2's slow queries started later, so for a while it holds one
    more condition and a higher weight than pg1, which the guard already keeps. Swapping would
    make the load balancer drop every session on pg1."""
    states = [member("pg1", ready=False, weight=10, holding=0), member("pg2", ready=False, weight=60, holding=1)]
    assert decide(states, HALF).kept == ("pg2",)
    assert decide(states, HALF, kept_before={"pg1"}).kept == ("pg1",)


def test_more_kept_ones_first_then_the_healthiest_fill_what_is_needed() -> None:
    states = [
        member("a", ready=False, weight=90, holding=1),
        member("b", ready=False, weight=10),
        member("c", ready=False, weight=80),
        member("d", ready=False, weight=50),
    ]
    assert decide(states, HALF, kept_before={"b"}).kept == ("b", "a")
    # fewer needed (two recovered): one of the two kept before stays, the first by health
    states = [member("a", ready=True), member("b", ready=False, weight=10), member("c", ready=False, weight=80)]
    assert decide(states, Guard(max_unready=0.34), kept_before={"b", "c"}).kept == ("c",)


@pytest.mark.parametrize(
    "gone",
    [member("pg1", ready=False, live=False), member("pg1", ready=False, admin=Admin.DRAIN), member("pg1", ready=True)],
    ids=["dead", "drained", "recovered"],
)
def test_a_kept_target_leaves_the_set_by_dying_draining_or_recovering(gone: TargetState) -> None:
    states = [gone, member("pg2", ready=False, weight=60)]
    decision = decide(states, HALF, kept_before={"pg1"})
    assert decision.kept == (() if gone.ready else ("pg2",))


def test_drained_and_dead_targets_count_as_out_but_are_never_kept() -> None:
    states = [
        member("a", ready=True, admin=Admin.DRAIN),
        member("b", ready=False, live=False),
        member("c", ready=False, weight=5),
    ]
    decision = decide(states, Guard(max_unready=0.34))
    assert decision.kept == ("c",)
    assert decision.out == 3


def test_no_candidates_means_nothing_kept() -> None:
    states = [member("a", ready=False, live=False), member("b", ready=True, admin=Admin.MAINT)]
    assert decide(states, HALF).kept == ()


def test_the_reason_names_the_group_and_the_figures() -> None:
    decision = decide([member("a", ready=False), member("b", ready=False)], HALF)
    assert describe(decision, "pg", HALF) == (
        "cascade guard: kept in service, 2 of 2 in group pg would be out (at most 50% may be)"
    )


@pytest.mark.parametrize("share", [-0.1, 1.0, 2.0])
def test_invalid_share_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="max_unready"):
        Guard(max_unready=share)


def test_only_eligible_targets_are_kept() -> None:
    states = [member("a", ready=False, weight=90), member("b", ready=False, weight=10)]
    assert decide(states, HALF, eligible={"b"}).kept == ("b",)
    assert decide(states, HALF, eligible=set()).kept == ()
