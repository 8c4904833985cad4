"""LoopDelayLimit's evidence of work for clients already gone (issue #11, the surge to 4× that the
growth tests missed), through the controller's ``abandon`` / ``leave_calm(gone)`` and
``observe_loop``, time passed in (a fake clock)."""

from __future__ import annotations

import pytest

from healthgauge.overload import AdmissionController, ConfigError, LoopDelayLimit
from healthgauge.testing import FakeClock

MS = 0.001
PROBE = 0.01
STEP = 3 * MS  # the ~3 ms pure-Python handler of the benchmark

# The probe's samples on h11, a surge from 1× straight to 4× that never entered (docs/overload.md,
# sixth round): the lag grows 0.07-0.2 s/s, then the clients' 1-s deadline passes, a few of the
# 1,044-ms iteration's requests and most of the next one's are for clients gone, and that
# iteration comes out shorter (no three lengthenings in a row, no rise across thirds).
SURGE_ONSET = [119 * MS, 107 * MS, 150 * MS, 163 * MS, 192 * MS]
SURGE_LATE = [(1044 * MS, 0.1), (498 * MS, 0.9)]


def controller(min_gone_share: float | None = 0.25) -> tuple[AdmissionController, FakeClock]:
    """The default controller, with the gone evidence judged (``min_gone_share``, opt-in)."""
    clock = FakeClock()
    return AdmissionController(LoopDelayLimit(min_gone_share=min_gone_share), clock=clock), clock


def calm(c: AdmissionController, clock: FakeClock, seconds: float) -> None:
    """An idle-ish loop: a sample every 10 ms, on time, a third of it in handlers."""
    for _ in range(round(seconds / PROBE)):
        clock.advance(PROBE)
        serve(c, 3, 0)
        c.observe_loop(0.5 * MS, 0.3 * PROBE, 1)


def serve(c: AdmissionController, answered: int, gone: int, skipped: int = 0) -> None:
    """Complete ``answered`` requests, ``gone`` of them to clients that left while they ran, and
    skip ``skipped`` whose clients left before they started."""
    for i in range(answered):
        assert c.enter_calm(), "a calm admission"
        c.leave_calm(gone=i < gone)
    for _ in range(skipped):
        c.abandon()


def iteration(
    c: AdmissionController, clock: FakeClock, lag: float, gone_share: float = 0.0, skip: bool = True, busy: float = 0.9
) -> None:
    """One long loop iteration of the CPU handler: the probe samples once, ``lag`` late, after
    the iteration ran ``lag / STEP`` handlers; ``gone_share`` of its requests were for clients
    already gone (skipped unrun when ``skip``, else answered to a closed connection)."""
    clock.advance(lag)
    n = max(1, round(lag / STEP))
    gone = round(gone_share * n)
    if skip:
        serve(c, n - gone, 0, skipped=gone)
    else:
        serve(c, n, gone)
    c.observe_loop(lag, busy * lag, n - gone)


def test_an_open_loop_surge_whose_lag_grows_slowly_enters_once_its_clients_leave() -> None:
    """(a) The surge the growth tests missed: lengthening 0.07-0.2 s/s, then the clients' deadline
    passes and most of what the loop does is for no one. It enters on that evidence, as soon as
    the lag is past twice where it stood three samples before; the same samples with every
    client still waiting do not enter (the growth tests alone, as before)."""
    for gone_share, enters in ((0.0, False), (1.0, True)):
        c, clock = controller()
        calm(c, clock, 1.0)
        for lag in SURGE_ONSET:
            iteration(c, clock, lag)
        assert not c.overloaded()
        for lag, share in SURGE_LATE:
            iteration(c, clock, lag, share * gone_share)
        assert c.overloaded() is enters, gone_share
        details = c.limit.statistics().details
        assert details["gone_entries"] == float(enters)


def test_answers_written_to_closed_connections_count_as_gone_too() -> None:
    """Clients that left while their request ran (not skipped: a server that cannot tell before)."""
    c, clock = controller()
    calm(c, clock, 1.0)
    for lag in SURGE_ONSET:
        iteration(c, clock, lag)
    for lag, share in SURGE_LATE:
        iteration(c, clock, lag, share, skip=False)
    assert c.overloaded()
    assert c.statistics().abandoned == 0
    assert c.statistics().completed["ignored"] > 0


def test_a_closed_loop_at_capacity_with_long_iterations_never_enters() -> None:
    """(b) 400 clients of the 3-ms handler: the loop steps up to a 1.2-s batch and stays there,
    every client waiting for its answer. Long iterations, nobody gone: never shed."""
    c, clock = controller()
    calm(c, clock, 1.0)
    for lag in [5 * MS, 1200 * MS] + [1180 * MS, 1230 * MS, 1200 * MS] * 10:
        iteration(c, clock, lag)
        assert not c.overloaded()
    assert c.watch_gone  # the loop is late: the adapters look for gone clients


def test_a_closed_loop_whose_clients_time_out_at_its_plateau_never_enters() -> None:
    """A closed loop too large for its clients' deadline (2,000 connections of the 3-ms handler
    wait ~6 s): most of its requests are skipped as gone, but the lag stands at its plateau."""
    c, clock = controller()
    calm(c, clock, 1.0)
    iteration(c, clock, 5 * MS)
    for lag in [1100 * MS, 1050 * MS, 1120 * MS] * 10:  # from the first long iteration on, most left
        iteration(c, clock, lag, gone_share=0.8)
        assert not c.overloaded()


def test_a_slow_dependency_with_clients_giving_up_never_enters() -> None:
    """(c) The dependency takes 10× longer while the CPU idles: clients give up waiting on it
    (gone), but the loop is on time and our handlers take little of it. Never shed, and the
    adapters need not look for gone clients (the loop is not late)."""
    c, clock = controller()
    calm(c, clock, 1.0)
    for _ in range(300):
        clock.advance(PROBE)
        serve(c, 4, 0, skipped=0)
        for _ in range(4):
            assert c.enter_calm()
            c.leave_calm(gone=True)  # answered after the client's deadline
        c.observe_loop(1 * MS, 0.1 * PROBE, 8)
        assert not c.overloaded()
    assert c.limit.statistics().details["gone_share"] == pytest.approx(0.5)
    assert not c.watch_gone


def test_overload_entered_on_gone_clients_ends_through_the_release_probe() -> None:
    """(d) Entered on gone clients, shedding holds the backlog down; after hold_time the limit
    lets go (the release probe) and, the surge over, the loop stays on time: calm again, the
    calm path back (calm_below > 0)."""
    c, clock = controller()
    limit = c.limit
    assert isinstance(limit, LoopDelayLimit)
    calm(c, clock, 1.0)
    for lag in SURGE_ONSET:
        iteration(c, clock, lag)
    for lag, share in SURGE_LATE:
        iteration(c, clock, lag, share)
    assert c.overloaded()
    released = False
    for i in range(300):  # shedding: a sawtooth under the slough threshold
        clock.advance(PROBE)
        c.observe_loop((i % 5) * 8 * MS + 2 * MS, 0.9 * PROBE, 3)
        if limit.statistics().details["probing"]:
            released = True
            break
    assert released
    calm(c, clock, 1.0)  # the load fell: on time from the release on
    assert not c.overloaded()
    assert limit.statistics().details["probing"] == 0
    assert limit.calm_below() > 0
    assert not c.watch_gone


def test_by_default_nobody_looks_for_gone_clients() -> None:
    """The default limit neither asks the adapters to skip gone clients nor judges them."""
    c, clock = controller(min_gone_share=None)
    limit = c.limit
    assert isinstance(limit, LoopDelayLimit)
    assert not limit.skip_gone
    assert limit.min_gone_share is None
    calm(c, clock, 1.0)
    for lag in SURGE_ONSET:
        iteration(c, clock, lag, skip=False)
        assert not c.watch_gone


def test_skip_gone_looks_while_late_and_does_not_judge() -> None:
    """``skip_gone=True``: the adapters look for gone clients while the loop is late (they skip
    them), and the limit does not enter overload on them: the surge of (a) is left to the growth
    tests."""
    clock = FakeClock()
    c = AdmissionController(LoopDelayLimit(skip_gone=True), clock=clock)
    calm(c, clock, 1.0)
    assert not c.watch_gone
    for lag in SURGE_ONSET:
        iteration(c, clock, lag)
        assert c.watch_gone
    for lag, share in SURGE_LATE:
        iteration(c, clock, lag, share)
    assert not c.overloaded()
    assert c.statistics().abandoned > 0


def test_a_closed_loop_stepping_past_its_clients_deadline_is_taken_for_an_open_one() -> None:
    """Why the gone evidence is opt-in: 50 → 400 clients of the 3-ms handler step the loop from a
    late 150-ms plateau to a 1.2-s one, past their 1-s deadline, and most of what it completes
    then is for clients gone. The lag doubled over three samples and the clients left: with
    ``min_gone_share`` it enters, as an open loop would (measured on h11: 63 % of the answers of
    that phase 503), although the clients send again as soon as they are answered."""
    for share, enters in ((0.25, True), (None, False)):
        c, clock = controller(min_gone_share=share)
        calm(c, clock, 1.0)
        for lag in [5 * MS, 150 * MS, 152 * MS, 149 * MS, 151 * MS]:
            iteration(c, clock, lag)
        for lag, gone in [(1200 * MS, 0.2), (1150 * MS, 0.8)]:
            iteration(c, clock, lag, gone)
        assert c.overloaded() is enters


@pytest.mark.parametrize("kwargs", [{"min_gone_share": 0.0}, {"min_gone_share": 1.5}, {"min_gone": 0}])
def test_gone_settings_are_checked(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="min_gone"):
        LoopDelayLimit(**kwargs)  # type: ignore[arg-type]
