"""Flap damping, as a table: penalties, decay, suppression and release, with time passed in."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthgauge.health._damping import Damping, Flap, describe, step

D = Damping(penalty=1000, suppress=2000, reuse=750, half_life=10, max_suppress=40)


def walk(events: list[tuple[float, bool]], flap: Flap | None = None) -> list[Flap]:
    flap = flap or Flap()
    out = []
    for now, ready in events:
        flap = step(flap, ready, now, D)
        out.append(flap)
    return out


def test_a_steady_target_has_no_penalty_and_shows_its_state() -> None:
    flaps = walk([(t, True) for t in range(5)])
    assert [f.penalty for f in flaps] == [0.0] * 5
    assert all(f.shown(True) for f in flaps)
    assert not flaps[-1].suppressed


def test_each_change_adds_the_penalty_which_halves_every_half_life() -> None:
    flaps = walk([(0, True), (0, False), (10, False), (20, False)])
    assert [round(f.penalty) for f in flaps] == [0, 1000, 500, 250]


@pytest.mark.parametrize(
    ("events", "suppressed", "shown_for_ready"),
    [
        # two changes in a row: 2000 is not above suppress
        ([(0, True), (0, False), (0, True)], False, True),
        # a third change (to not ready) crosses 2000: hold what consumers heard before it (ready)
        ([(0, True), (0, False), (0, True), (0, False)], True, True),
        # starting down: up, down, up crosses while the previous state was down
        ([(0, False), (0, True), (0, False), (0, True)], True, False),
    ],
)
def test_suppression_holds_the_state_from_before_the_crossing_change(
    events: list[tuple[float, bool]], suppressed: bool, shown_for_ready: bool
) -> None:
    flap = walk(events)[-1]
    assert flap.suppressed is suppressed
    assert flap.shown(True) is shown_for_ready
    assert flap.shown(False) is (shown_for_ready if suppressed else False)


def test_while_suppressed_further_changes_do_not_move_what_is_shown() -> None:
    flaps = walk([(0, True), (1, False), (2, True), (3, False), (4, True), (5, False)])
    assert flaps[3].suppressed
    held = flaps[3].held
    assert all(f.held is held for f in flaps[3:])


def test_released_once_the_penalty_decays_below_reuse() -> None:
    crossed = walk([(0, True), (0, False), (0, True), (0, False)])[-1]
    assert crossed.suppressed
    # 3000 decays to 750 in two half-lives: still held at 19 s, released at 21 s
    assert step(crossed, False, 19.0, D).suppressed
    released = step(crossed, False, 21.0, D)
    assert not released.suppressed
    assert released.shown(False) is False
    assert step(crossed, False, 19.0, D).shown(False) is True


def test_the_ceiling_bounds_suppression_to_max_suppress() -> None:
    events = [(0.0, i % 2 == 0) for i in range(50)]
    flap = walk(events)[-1]
    assert flap.penalty == pytest.approx(D.ceiling)
    assert flap.release_in(0.0, D) == pytest.approx(D.max_suppress)
    assert not step(flap, flap.seen is True, D.max_suppress + 0.01, D).suppressed


def test_describe_says_what_is_held_and_when_it_is_released() -> None:
    flap = walk([(0, True), (0, False), (0, True), (0, False)])[-1]
    assert describe(flap, 0.0, D) == "flap damping: held ready (penalty 3000 above reuse 750, released in 20s)"


@pytest.mark.parametrize(
    "kwargs", [{"reuse": 3000}, {"reuse": 0}, {"half_life": 0}, {"penalty": -1}, {"max_suppress": 0}]
)
def test_invalid_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must"):
        Damping(**kwargs)


def test_decay_is_exponential() -> None:
    flap = Flap(penalty=1000.0, at=0.0)
    assert flap.decayed(5.0, D) == pytest.approx(1000 * math.sqrt(0.5))


@given(st.lists(st.tuples(st.floats(min_value=0, max_value=30), st.booleans()), max_size=60))
def test_properties_over_any_history(events: list[tuple[float, bool]]) -> None:
    """The penalty never passes the ceiling; a target is never held longer than max_suppress after
    its last change; an unsuppressed target always shows what its checks say."""
    flap, now, last_change = Flap(), 0.0, 0.0
    for gap, ready in events:
        now += gap
        if flap.seen is not None and ready != flap.seen:
            last_change = now
        flap = step(flap, ready, now, D)
        assert flap.penalty <= D.ceiling + 1e-6
        if flap.suppressed:
            assert now - last_change <= D.max_suppress + 1e-6
        else:
            assert flap.shown(ready) is ready
