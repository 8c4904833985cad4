"""What ``LoopDelayLimit`` measures of the loop per statistics interval (100 ms): the share of it
spent in the handlers we admitted, their mean synchronous step, and the host's noise.

Our own steps and the host's noise are not a queue (issue #11): a probe cannot wake while a
handler step runs, so a handler that computes for 3 ms makes samples late by up to 3 ms on an
idle server, and on a shared or CPU-throttled host the process waits for a core now and then.
The limit raises its target to cover both (``effective_target``). ``noise`` is an EWMA of the
largest lag of each interval that had no standing queue (its smallest sample at or below the
target), learnt only when the limit says so (not while shedding or probing: the sawtooth of a
shed loop crept it up to 50 ms) and only while our handlers took less than ``noise_share`` of
the loop: a saturated loop's worst samples are the start of a backlog, not the host (at 2× they
raised the target from 12 to 36 ms before the first entry, and with it the slough threshold and
the wait of every request served).
"""

from __future__ import annotations

import math

INF = math.inf


class LoopInterval:
    """The running interval's sums (``busy`` seconds in ``steps`` handler steps, the largest and
    smallest lag) and what the closed intervals taught: ``share`` (the last one's busy share),
    ``step`` (EWMA of the mean step) and ``noise``. Time is passed in."""

    __slots__ = ("busy", "end", "max_lag", "min_lag", "noise", "share", "start", "step", "steps")

    def __init__(self) -> None:
        self.start = -INF
        self.end = -INF  # the first probe opens the first interval
        self.busy = 0.0
        self.steps = 0
        self.max_lag = 0.0
        self.min_lag = INF
        self.share = 0.0
        self.step = 0.0
        self.noise = 0.0

    def add(self, lag: float, busy: float, steps: int) -> None:
        """One probe sample: ``lag`` late, ``busy`` seconds in ``steps`` steps since the last."""
        self.busy += busy
        self.steps += steps
        if lag > self.max_lag:
            self.max_lag = lag
        if lag < self.min_lag:
            self.min_lag = lag

    def close(self, now: float) -> bool:
        """End the running interval at ``now``: its busy share and mean step are learnt. False
        when there was none yet (the first probe)."""
        length = now - self.start
        if not (math.isfinite(length) and length > 0):
            return False
        self.share = min(1.0, self.busy / length)
        if self.steps:
            mean = self.busy / self.steps
            self.step = mean if self.step == 0 else 0.8 * self.step + 0.2 * mean
        return True

    def learn_noise(self, target: float, noise_share: float) -> None:
        """The closed interval had no standing queue and room on the loop: its worst sample is
        the host's noise (module docstring)."""
        if self.share < noise_share and self.min_lag <= target and math.isfinite(self.max_lag):
            self.noise += 0.05 * (self.max_lag - self.noise)

    def open(self, now: float, length: float) -> None:
        """Start the next interval, ``length`` seconds long."""
        self.start = now
        self.end = now + length
        self.busy = 0.0
        self.steps = 0
        self.max_lag = 0.0
        self.min_lag = INF
