"""The release probe's regrowth tests of ``LoopDelayLimit``: pure functions of the samples taken
since shedding was let go, and of the levels the limit compares them with (issue #11, rounds
three to five).

Shedding holds an open loop's backlog, so it stops rising; the limit lets go after ``hold_time``
and watches. An open loop above capacity regrows, iteration after iteration, by its excess; a
closed loop refills in one step to the batch its clients keep and stays there. These tests tell
the two apart from the probe's samples ``(time, lag)`` in seconds; the state machine that acts on
them is ``_loop_delay``. Regrowth is two lengthenings in a row past the slough threshold and
twice the lag let go at, dense samples rising past the lag that first entered overload (by
``probe_growth``), or sparse samples each later than the last past it. After the first of two
lengthenings, a request that starts having waited as long as the second would have to be
confirms it at once (:func:`confirming_wait`): the iteration running then is that long already,
and at 4× it would have run on for ~0.6 s, every request in it answered that late (fifth round).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from healthgauge.overload.limits._loop_growth import INF, Sample, flat, longer, recent, rising


@dataclass(frozen=True, slots=True, kw_only=True)
class Levels:
    """What a release probe's samples are compared with, as the limit stands at a sample: its
    effective ``target``, the least ``rise`` and ``slope`` of a lengthening (``min_rise`` × the
    target, ``min_growth``), ``probe_slope`` (``probe_growth``), the ``slough`` threshold, the
    lag that first entered overload (``entry_lag``) and a closed loop's ``plateau`` remembered
    until ``plateau_until``."""

    target: float
    rise: float
    slope: float
    probe_slope: float
    slough: float
    entry_lag: float
    plateau: float
    plateau_until: float

    @property
    def entry_level(self) -> float:
        """Past the lag that entered overload by half of it and by the target: regrown beyond it."""
        return max(1.5 * self.entry_lag, self.entry_lag + self.target)


def confirming_wait(probe: deque[Sample], lv: Levels) -> float:
    """The least lag with which the next probe sample would make :func:`regrowing` confirm the
    regrowth by one of its iteration-by-iteration tests (INF: none can pass yet). A request
    that has waited that long when it starts shows the running iteration is that long."""
    return min(second_lengthening(probe, lv), still_later(probe, lv))


def second_lengthening(probe: deque[Sample], lv: Levels) -> float:
    """Once the last sample was a lengthening: longer than it by ``rise`` and by ``slope`` ×
    its own gap, past the slough threshold and twice the lag let go at, and above a plateau
    seen recently."""
    if len(probe) < 2 or lv.slope >= 1 or not longer(probe[-2], probe[-1], lv.rise, lv.slope):
        return INF  # (slope ≥ 1: no lag is longer by its whole gap)
    (t0, _), (t1, last) = probe[-2], probe[-1]
    # The next sample comes ``its lag + spacing`` after this one (the probe's own interval,
    # as between the last two): lag - last > slope × (lag + spacing).
    spacing = max(0.0, t1 - t0 - last)
    need = max(last + lv.rise, lv.slough, 2 * probe[0][1])
    need = max(need, (last + lv.slope * spacing) / (1 - lv.slope))
    if probe[-1][0] < lv.plateau_until:
        need = max(need, lv.plateau + lv.target)
    return need


def still_later(probe: deque[Sample], lv: Levels) -> float:
    """Sparse samples: once the last was later than the one before, any later one past the
    entry level (:func:`regrowing`'s third test; h11 at 4× let go ran 51, 331, 399 ms, then a
    1.5-s iteration before that sample came)."""
    if len(probe) < 3 or not probe[-2][1] < probe[-1][1]:
        return INF
    return max(lv.entry_level, probe[-1][1])


def regrowing(probe: deque[Sample], lv: Levels) -> bool:
    """The backlog grows again since the release. Iteration by iteration: two in a row each
    longer than the last, the latest past the slough threshold and twice the lag let go at
    (and above a plateau seen recently). A closed loop refills in one step, to the batch its
    clients keep, and stays there; an open loop above capacity lengthens every iteration by
    its excess (aiohttp at 4×: 35, 143, 443 ms — waiting for the lag to pass 1.5 × the
    entry lag let each probe run ~1 s of backlog). Dense samples: rising over the probe past
    the lag that first entered overload, as before."""
    now, lag = probe[-1]
    n = len(probe)
    if (
        n >= 3
        and lag > max(lv.slough, 2 * probe[0][1])
        and (now >= lv.plateau_until or lag > lv.plateau + lv.target)
        and longer(probe[-3], probe[-2], lv.rise, lv.slope)
        and longer(probe[-2], probe[-1], lv.rise, lv.slope)
    ):
        return True
    if lag <= lv.entry_level:
        return False  # (a closed loop taken for growth mid-step entered below its plateau)
    if n >= 4 and rising(probe, lv.rise, lv.probe_slope):
        return True
    # Sparse samples (one per long iteration): each later than the last, or far above
    # capacity doubling on each of the two samples after the release.
    if n >= 4:
        return probe[-3][1] < probe[-2][1] < lag
    return n == 3 and lag >= 2 * probe[1][1] and probe[1][1] >= 2 * max(probe[0][1], lv.target)


class ReleaseProbe:
    """One release probe's samples since shedding was let go (``since``; -INF: none under way),
    and ``ceiling``: the wait with which a request that starts now confirms the regrowth
    (:func:`confirming_wait`; INF until a first lengthening arms it)."""

    __slots__ = ("ceiling", "samples", "since")

    def __init__(self) -> None:
        self.samples: deque[Sample] = deque()
        self.since = -INF
        self.ceiling = INF

    @property
    def active(self) -> bool:
        return self.since > -INF

    def begin(self, now: float, lag: float) -> None:
        """Shedding is let go at ``now``, the loop ``lag`` late."""
        self.since = now
        self.samples.clear()
        self.samples.append((now, lag))

    def add(self, now: float, lag: float) -> deque[Sample]:
        """One more sample (the last 256 kept): the samples so far."""
        samples = self.samples
        samples.append((now, lag))
        if len(samples) > 256:
            samples.popleft()
        return samples

    def end(self) -> None:
        self.since = -INF
        self.samples.clear()
        self.ceiling = INF

    def plateau(self, now: float, span: float, rise: float, slope: float) -> float | None:
        """Once the probe has run ``span`` and its samples stopped rising (:func:`flat` over the
        last ``span``): the lag it settled at, the largest of its last third (a closed loop's
        plateau: refilling to it later is not growth). ``None`` otherwise."""
        samples = self.samples
        if now - self.since < span or not flat(recent(samples, span), rise, slope):
            return None
        start = now - (now - self.since) / 3
        return max(lag for t, lag in samples if t >= start)
