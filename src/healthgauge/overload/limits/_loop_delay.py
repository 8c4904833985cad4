"""healthgauge's default limit since issue #11: the standing event-loop delay *our admitted work* causes.

The 0.x default (``QueueDelayLimit``, spec §2.4) read every millisecond of event-loop lag as
queueing that admission could relieve. On real servers that is false whenever the loop is busy
with something a refusal does not remove: with 400 keep-alive clients uvicorn spends its loop
parsing, writing and switching between connections, and a 503 costs about as much as the 20-ms
``await`` it replaces. The old limit saw the lag, cut itself to its floor of 2 and refused 99 % of
the traffic (7,992 → 11 answers/s). This limit is driven by the host's loop probe (``on_loop``,
every 10 ms: the lag, and the time the loop spent inside the handlers we admitted) and follows
what the real servers taught:

- **A standing queue, as CoDel defines it.** The loop is *late* once every probe sample for
  ``enter_time`` (500 ms) exceeded the target: one sample at or below it means the loop caught up.
- **Attribution.** The loop counts as *overloaded* only while it is late **and** at least
  ``min_busy_share`` (0.5) of the last interval went into the handlers we admitted (the adapters
  time each synchronous step of the app): only then does refusing work relieve the loop. Lag that
  comes from connection handling, parsing or other tasks does not shed. (The adapters report the
  handlers' time *less the time the server took to write their answers*, which a 503 costs too:
  with uvicorn's h11 that writing is most of a small handler's time.)
- **A growing backlog enters, a standing one stays shed** (issue #11, rounds two to five;
  docs/overload.md has the measurements). A closed loop (clients that send the next request when
  the answer comes) keeps the loop late but *stable*, and a refusal only makes the client ask
  again sooner; an open loop above capacity makes a backlog that *grows*. So the limit enters
  overload only while the lag **rises** (``_loop_growth``): the late samples of the last
  ``enter_time`` rising by thirds (by ``min_rise`` × the target and ``min_growth``, 0.25 s/s), or
  three loop iterations in a row each longer than the last (a loop deep in a backlog wakes the
  probe once per iteration). Shedding then holds the backlog: after ``hold_time`` (0.25 s)
  without a rise, at a sample that shows the loop caught up (``_releasable``), the limit lets go
  and watches (the *release probe*, ``_loop_release``): a lag
  that regrows is shed again at once, and the next probe waits twice as long (up to
  ``max_hold``, 8 s); a lag that stops rising is a closed loop's plateau, remembered for
  ``max_suppress`` (20 s): refilling to it is not growth. ``min_rise=0`` turns the tests off.
- **Where else growth shows** (opt-in, ``_loop_growth``): the kernel's accept queue growing in
  three intervals in a row (``min_queue_growth``: uvloop's excess waits there while its loop's lag
  stays flat), and work for clients already gone (``min_gone_share``; ``skip_gone`` skips such
  requests unrun while the last sample was late, ``watches_gone``).
- **Proof that shedding helps.** If, within ``verify_time`` (1 s) of entering overload, no probe
  sample falls back to the slough threshold or to half the lag that entered it, refusing work did
  not relieve the loop (the delay was the host's, or connections', after all): the
  limit stops shedding for ``suppress_time`` (5 s, doubling to ``max_suppress``, 20 s, while it
  keeps happening) and counts it (``ineffective`` in the statistics). Overload ends once
  ``exit_time`` (300 ms) has passed with neither a late sample nor a request that waited past the
  slough threshold.
- **Our own steps and the host's noise are not a queue** (``_loop_interval``). The target is
  ``max(target, step_factor × the handlers' mean step, noise_factor × noise)``, at most
  ``max_target`` (50 ms): a probe cannot wake while a handler step runs, and a shared host makes
  the process wait for a core now and then.
- **Slough** at handler start, as folly: while overloaded, a request that waited longer than
  ``slough_factor`` (3) × that target is refused before it runs.
  For handlers that never ``await`` (pure CPU), in-flight never exceeds 1 and this is the only
  way to remove their work.
- **No guessed start limit, no cap without overload.** ``initial`` is 1000 and, while the loop is
  not overloaded, a request that reaches ``L`` raises it (``× growth``, up to ``max_limit``,
  100,000): the concurrency limit is learned from the first overload (a start limit of 16 refused
  a 20-ms handler's 160 concurrent requests before anything was measured; a cap of 1000 refused
  half of 2,000 keep-alive clients' requests without any overload). On each overloaded interval
  ``L = backoff × min(L, peak in-flight)``, so a limit far above the actual concurrency takes effect at once.
- **A floor from experience.** ``L`` never falls below the highest in-flight count of a recent
  interval that was not overloaded (decaying by ``floor_decay`` 0.98 per interval: a half-life of
  3.5 s), nor below ``min_limit``: a concurrency that was observed to work is not refused.
- **Growth** per saturated, calm interval: ``max(L + 1, growth × L)`` (the application-limited
  guard: a limit that nothing reaches never grows).

Time is passed in; nothing here reads a clock.
"""

from __future__ import annotations

import math
from collections import deque

from healthgauge.overload.limits._limit import Limit, require, require_ratio
from healthgauge.overload.limits._loop_growth import (
    INF,
    GoneWindow,
    QueueGrowth,
    abandoning,
    lengthening,
    longer,
    rising,
)
from healthgauge.overload.limits._loop_interval import LoopInterval
from healthgauge.overload.limits._loop_release import Levels, ReleaseProbe, confirming_wait, regrowing


class LoopDelayLimit(Limit):
    """The default limit of :class:`~healthgauge.overload.AdmissionController` (module docstring).

    It needs the host's loop probe (``on_loop``); without one it never reports overload and never
    sheds (a fixed ``L`` of ``initial``).
    """

    __slots__ = (
        "_entered_at",
        "_entry_lag",
        "_first_above",
        "_floor",
        "_gone",
        "_gone_entries",
        "_hold",
        "_ineffective",
        "_iv",
        "_last",
        "_last_above",
        "_last_rising",
        "_last_shed",
        "_late",
        "_overloaded",
        "_peak",
        "_plateau",
        "_plateau_until",
        "_queue",
        "_release",
        "_run",
        "_saturated",
        "_suppress_for",
        "_suppressed_until",
        "_verified",
        "backoff",
        "enter_time",
        "exit_time",
        "floor_decay",
        "growth",
        "hold_time",
        "interval",
        "max_hold",
        "max_suppress",
        "max_target",
        "min_busy_share",
        "min_gone",
        "min_gone_share",
        "min_growth",
        "min_queue_growth",
        "min_rise",
        "noise_factor",
        "noise_share",
        "probe_growth",
        "skip_gone",
        "slough_factor",
        "step_factor",
        "suppress_time",
        "target",
        "verify_time",
    )

    kind = "loop_delay"
    judges_overload = True

    def __init__(
        self,
        *,
        target: float = 0.005,
        interval: float = 0.1,
        initial: float | None = None,
        min_limit: float = 1,
        max_limit: float = 100_000,
        backoff: float = 0.9,
        growth: float = 1.1,
        slough_factor: float = 3.0,
        min_busy_share: float = 0.5,
        floor_decay: float = 0.98,
        step_factor: float = 2.0,
        noise_factor: float = 3.0,
        noise_share: float = 0.75,
        max_target: float = 0.05,
        enter_time: float | None = None,
        exit_time: float | None = None,
        verify_time: float = 1.0,
        suppress_time: float = 5.0,
        max_suppress: float = 20.0,
        min_rise: float = 1.0,
        min_growth: float = 0.25,
        probe_growth: float = 0.1,
        hold_time: float = 0.25,
        max_hold: float = 8.0,
        min_queue_growth: int | None = None,
        min_gone_share: float | None = None,
        min_gone: int = 8,
        skip_gone: bool = False,
    ) -> None:
        require(target > 0, f"target must be > 0 s, got {target!r}")
        require(interval > target, f"interval ({interval!r} s) must be > target ({target!r} s)")
        require_ratio("backoff", backoff, 0.5, 1.0)
        require(1.0 <= growth <= 2.0, f"growth must lie in [1, 2], got {growth!r}")
        require(slough_factor >= 1.0, f"slough_factor must be ≥ 1, got {slough_factor!r}")
        require_ratio("min_busy_share", min_busy_share, 0.0, 1.0, high_open=False)
        require_ratio("floor_decay", floor_decay, 0.0, 1.0, high_open=False)
        require(step_factor >= 0 and noise_factor >= 0, "step_factor and noise_factor must be ≥ 0")
        require_ratio("noise_share", noise_share, 0.0, 1.0, high_open=False)
        start = min(1000.0, max_limit) if initial is None else initial
        super().__init__(initial=start, min_limit=min_limit, max_limit=max_limit)
        self.target = float(target)
        self.interval = float(interval)
        self.backoff = float(backoff)
        self.growth = float(growth)
        self.slough_factor = float(slough_factor)
        self.min_busy_share = float(min_busy_share)
        self.floor_decay = float(floor_decay)
        self.step_factor = float(step_factor)
        self.noise_factor = float(noise_factor)
        self.noise_share = float(noise_share)
        self.max_target = float(max_target)
        self.enter_time = 5 * self.interval if enter_time is None else float(enter_time)
        self.exit_time = 3 * self.interval if exit_time is None else float(exit_time)
        require(self.enter_time >= 0 and self.exit_time >= 0, "enter_time and exit_time must be ≥ 0 s")
        require(
            verify_time > 0 and 0 < suppress_time <= max_suppress,
            "need verify_time > 0, 0 < suppress_time ≤ max_suppress",
        )
        self.verify_time = float(verify_time)
        self.suppress_time = float(suppress_time)
        self.max_suppress = float(max_suppress)
        require(min_rise >= 0 and hold_time > 0, "need min_rise ≥ 0 (× the target) and hold_time > 0 s")
        require(
            min_growth >= 0 and probe_growth >= 0 and max_hold >= hold_time,
            "need min_growth ≥ 0, probe_growth ≥ 0 (s/s) and max_hold ≥ hold_time",
        )
        require(
            min_queue_growth is None or min_queue_growth >= 1,
            f"min_queue_growth must be None or ≥ 1 connection, got {min_queue_growth!r}",
        )
        self.min_queue_growth = min_queue_growth
        require(
            (min_gone_share is None or 0 < min_gone_share <= 1) and min_gone >= 1,
            f"need min_gone_share None or in (0, 1] and min_gone ≥ 1, got {min_gone_share!r}, {min_gone!r}",
        )
        self.min_gone_share = min_gone_share
        self.min_gone = int(min_gone)
        self.skip_gone = bool(skip_gone) or min_gone_share is not None
        self._gone = GoneWindow(self.enter_time)
        self._gone_entries = 0
        self._queue = QueueGrowth(interval=self.interval, min_growth=min_queue_growth)
        self.min_rise = float(min_rise)
        self.min_growth = float(min_growth)
        self.probe_growth = float(probe_growth)
        self.hold_time = float(hold_time)
        self.max_hold = float(max_hold)
        self._hold = self.hold_time  # doubles each time a release probe finds the backlog growing
        self._release = ReleaseProbe()  # its samples since shedding was let go, its ceiling
        self._run: deque[tuple[float, float]] = deque()  # (time, lag) of the current run of late samples
        self._last: deque[tuple[float, float]] = deque(maxlen=4)  # the last four samples, late or not
        self._last_rising = -INF
        self._plateau = 0.0  # the lag shedding was let go at (hold_time): rising back to it is no growth
        self._plateau_until = -INF
        self._iv = LoopInterval()  # the running statistics interval, and what the closed ones taught
        self._peak = 0
        self._floor = 0.0
        self._saturated = False
        self._first_above: float | None = None
        self._last_above = -INF
        self._late = False
        self._overloaded = False
        self._entered_at = -INF
        self._entry_lag = 0.0
        self._last_shed = -INF
        self._verified = False
        self._suppressed_until = -INF
        self._suppress_for = self.suppress_time
        self._ineffective = 0

    # -- reading ---------------------------------------------------------------------------------

    @property
    def overloaded(self) -> bool:
        """The loop is late and our admitted handlers are most of its work: shedding relieves it."""
        return self._overloaded

    @property
    def late(self) -> bool:
        """The loop has had a standing delay above the target (whoever caused it)."""
        return self._late

    @property
    def busy_share(self) -> float:
        """The share of the last closed interval the loop spent in admitted handlers (0-1)."""
        return self._iv.share

    @property
    def effective_target(self) -> float:
        """``max(target, step_factor × mean handler step, noise_factor × noise)``, at most
        ``max_target``: the standing delay that counts as a queue here."""
        want = max(self.target, self.step_factor * self._iv.step, self.noise_factor * self._iv.noise)
        return min(want, max(self.target, self.max_target))

    @property
    def noise(self) -> float:
        """The loop's usual worst lag when it has no standing queue (EWMA of each such interval's
        largest sample): preemption by other processes, GC, one long step."""
        return self._iv.noise

    @property
    def slough_timeout(self) -> float:
        """While overloaded, a request that waited longer than this is refused at start."""
        return self.slough_factor * self.effective_target

    @property
    def floor(self) -> float:
        """``L`` is not cut below this now: ``max(min_limit, in-flight that recently worked)``."""
        return max(self.min_limit, self._floor)

    # -- hooks -----------------------------------------------------------------------------------

    def on_admission(self, now: float, inflight: int, at_limit: bool) -> None:
        if not at_limit and inflight >= self._peak:
            self._peak = inflight + 1
        if at_limit or inflight + 2 > self.limit:  # n + 1 ≥ floor(L)
            self._saturated = True
            if not self._overloaded:
                # Not overloaded: the limit follows demand (2,000 keep-alive clients of a 20-ms
                # handler keep ~1,500 requests admitted; a cap refused half of them).
                self._set(max(self.limit + 1, self.growth * self.limit))

    def on_gone(self, now: float, completed: int, gone: int) -> None:
        """Keep the probes' completion counts of the last ``enter_time`` (``GoneWindow``)."""
        self._gone.add(now, completed, gone)

    def watches_gone(self) -> bool:
        """While the last sample was late: a request then may have waited past its client's
        deadline, and looking costs the adapters a socket peek a request. On time, nobody waited
        long enough to leave, and the calm path pays one attribute read."""
        last = self._last
        return self.skip_gone and bool(last) and last[-1][1] > self.effective_target

    def calm_below(self) -> float:
        """Out of overload an admission with n + 2 ≤ L in flight only raises the interval's peak
        (on_admission: not saturated, no growth) and a start sheds nothing; both stay so until
        on_loop, the only place that enters overload or lowers ``L``. Not while a release probe
        has armed its regrowth test (its ``ceiling``): a start may then confirm regrowth (``_regrew``),
        so every start must reach on_start."""
        if self._overloaded or self._release.ceiling < INF:
            return 0.0
        return math.floor(self.limit) - 1.0 if math.isfinite(self.limit) else self.limit

    def on_start(self, now: float, delay: float) -> bool:
        if self._overloaded:
            if self.sheds_at_start(now, delay):
                self._last_shed = now
                return True
            return False
        if delay > self._release.ceiling:  # INF unless a release probe saw the loop lengthen once
            return self._regrew(now, delay)
        return False

    def _regrew(self, now: float, delay: float) -> bool:
        """A request starts during a release probe after waiting past its ``ceiling``: the
        iteration running now is already as long as the next probe sample would have to be to
        confirm regrowth (``_regrowing``'s iteration tests), so it is confirmed now,
        not once that iteration ends: at 4× the second iteration after a release ran ~0.6 s
        and every request it admitted answered that late (issue #11, the tail at 2-4×).
        Same decision, taken earlier; this request is the first one sloughed."""
        if now - self._release.since < self.interval or self._iv.share < self.min_busy_share:
            return False
        self._release.end()
        self._hold = min(self.max_hold, 2 * self._hold)
        self._enter(now, delay, again=True)
        self._last_shed = now
        return True

    def sheds_at_start(self, now: float, delay: float) -> bool:
        # The sloughing test on_start applies, without its bookkeeping (on_admission changes
        # neither of its inputs). A release probe's regrowth (_regrew) is not foreseen: confirming
        # it changes the limit's state, so it is left to on_start, and such a request reaches the parser.
        return self._overloaded and delay > self.slough_timeout

    def on_loop(self, now: float, lag: float, busy: float, steps: int, accept_queue: int | None = None) -> None:
        self._iv.add(lag, busy, steps)
        if now >= self._iv.end:
            self._close(now)
        target = self.effective_target
        if lag > target:
            if self._first_above is None:
                # One late sample proves nothing (a long step, preemption): time the run of them.
                self._first_above = now
            self._last_above = now
            self._late = now - self._first_above >= self.enter_time
            self._remember(now, lag)
        else:
            self._first_above = None
            self._late = False
            self._run.clear()
        last = self._last
        last.append((now, lag))
        queue_growing = self._queue.observe(now, accept_queue)
        rising = (self._late and self._rising(self._run)) or queue_growing
        rising = rising or (self.min_rise > 0 and lengthening(last, target, self._rise, self.min_growth))
        abandoning = not rising and self._abandoning(lag)
        rising = rising or abandoning
        if rising:
            self._last_rising = now
        if self._overloaded:
            self._check(now, lag)
        elif self._release.active:
            self._probe_step(now, lag, queue_growing)
        elif (
            rising
            and self._iv.share >= self.min_busy_share
            and now >= self._suppressed_until
            and (queue_growing or now >= self._plateau_until or lag > self._plateau + self.effective_target)
        ):
            self._gone_entries += abandoning
            self._enter(now, lag)

    def _enter(self, now: float, lag: float, again: bool = False) -> None:
        self._overloaded = True
        self._entered_at = now
        if not again:
            self._entry_lag = lag  # the first entry of an episode: where a closed loop would plateau
        self._verified = False
        self._last_rising = now

    def _check(self, now: float, lag: float) -> None:
        """While overloaded: prove that shedding relieves the loop, and notice when it is over."""
        if not self._verified:
            if lag <= self.slough_timeout or lag <= 0.5 * self._entry_lag:
                self._verified = True  # the loop caught up, or halved its delay: it was ours
                self._suppress_for = self.suppress_time
            elif now - self._entered_at >= self.verify_time:
                # A whole verify_time of shedding and the loop never caught up: the delay is not
                # our handlers' (the host, connections, another task). Stop, and look again later.
                self._overloaded = False
                self._ineffective += 1
                self._suppressed_until = now + self._suppress_for
                self._suppress_for = min(self.max_suppress, 2 * self._suppress_for)
                self._hold = self.hold_time
                return
        if now - max(self._last_above, self._last_shed, self._queue.last_queued) >= self.exit_time:
            self._overloaded = False  # nothing waits any more: the load fell
            self._hold = self.hold_time
        elif self.min_rise > 0 and self._releasable(now, lag):
            # Shedding holds the backlog: is it a standing queue that would grow again without
            # it (an open loop above capacity) or a closed loop's, which refusals cannot shorten?
            # Let go and watch (the release probe).
            self._overloaded = False
            self._release.begin(now, lag)

    def _releasable(self, now: float, lag: float) -> bool:
        """``hold`` has passed without a rise, and this sample shows the loop caught up (at or
        below the slough threshold), or another ``hold`` has passed. A release lets in at once
        whatever waits when it comes, about the arrivals of the iteration the sample measured:
        after a shed loop's short iteration that is a few requests; after a long one (h11 at 4×,
        released at 54-152 ms) it was 65 requests and more, one 0.75-1.8-s iteration no regrowth
        test could cut short (issue #11, eighth round). A shed loop alternates the two."""
        held = now - self._last_rising
        return held >= self._hold and (lag <= self.slough_timeout or held >= 2 * self._hold)

    def _probe_step(self, now: float, lag: float, queue_growing: bool = False) -> None:
        """Shedding was let go: shed again as soon as the backlog grows from there (an open loop:
        no need to wait for ``enter_time`` of lateness again); if for ``enter_time`` it does
        not, it was a closed loop's plateau: remember it and stay calm."""
        release = self._release
        probe = release.add(now, lag)
        if now - max(self._last_above, self._queue.last_queued) >= self.exit_time:
            release.end()  # the loop caught up by itself: the load fell
            self._hold = self.hold_time
        elif (queue_growing and self._iv.share >= self.min_busy_share) or (
            now - probe[0][0] >= self.interval  # a few 10-ms samples are one iteration's noise
            and self._iv.share >= self.min_busy_share
            and regrowing(probe, self._levels())
        ):
            release.end()
            self._hold = min(self.max_hold, 2 * self._hold)  # confirmed: probe less often
            self._enter(now, lag, again=True)
        else:
            release.ceiling = confirming_wait(probe, self._levels())
            plateau = release.plateau(now, self.enter_time, self._rise, self.probe_growth)
            if plateau is not None:  # a closed loop's: refilling to it later is not growth
                self._plateau = plateau
                self._plateau_until = now + self.max_suppress
                release.end()
                self._hold = self.hold_time

    def _levels(self) -> Levels:
        """What the release probe's tests compare its samples with, now (``_loop_release``)."""
        target = self.effective_target
        return Levels(
            target=target,
            rise=self.min_rise * target,
            slope=self.min_growth,
            probe_slope=self.probe_growth,
            slough=self.slough_factor * target,
            entry_lag=self._entry_lag,
            plateau=self._plateau,
            plateau_until=self._plateau_until,
        )

    @property
    def _rise(self) -> float:
        """The least rise of the lag that counts as growth: ``min_rise`` × the target."""
        return self.min_rise * self.effective_target

    def _longer(self, before: tuple[float, float], after: tuple[float, float]) -> bool:
        """``_loop_growth.longer`` with this limit's thresholds."""
        return longer(before, after, self._rise, self.min_growth)

    def _rising(self, run: deque[tuple[float, float]], growth: float | None = None) -> bool:
        """``_loop_growth.rising`` with this limit's thresholds (always, with ``min_rise=0``)."""
        if self.min_rise <= 0:
            return True
        return rising(run, self._rise, self.min_growth if growth is None else growth)

    def _abandoning(self, lag: float) -> bool:
        """Work for clients already gone, while the lag grows (``_loop_growth.abandoning``)."""
        share = self.min_gone_share
        if share is None or self.min_rise <= 0:
            return False
        done, gone = self._gone.totals()
        if gone < self.min_gone or gone < share * done:
            return False
        return abandoning(self._last, lag, self.effective_target, self.slough_timeout)

    def _remember(self, now: float, lag: float) -> None:
        """Keep the late samples of the last ``enter_time`` (at least the last six)."""
        run = self._run
        run.append((now, lag))
        while len(run) > 6 and run[0][0] < now - self.enter_time:
            run.popleft()
        while len(run) > 256:
            run.popleft()

    # -- internals -------------------------------------------------------------------------------

    def _close(self, now: float) -> None:
        """Close the statistics interval (busy share, mean step, noise, limit moves) and open the next."""
        iv = self._iv
        if iv.close(now):
            if not self._overloaded and not self._release.active:
                iv.learn_noise(self.effective_target, self.noise_share)
            self._move()
        iv.open(now, self.interval)
        self._peak = 0
        self._saturated = False

    def _move(self) -> None:
        self._floor *= self.floor_decay
        if self._overloaded:
            if self._late:
                self._set(max(self.floor, self.backoff * min(self.limit, max(1, self._peak))))
            return
        if self._peak > self._floor:
            self._floor = float(self._peak)
        if self._saturated and self._iv.max_lag <= self.effective_target:
            self._set(max(self.limit + 1, self.limit * self.growth))

    def _details(self) -> dict[str, float]:
        return {
            "late": float(self._late),
            "overloaded": float(self._overloaded),
            "busy_share": self._iv.share,
            "floor": self.floor,
            "target": self.effective_target,
            "noise": self._iv.noise,
            "slough_timeout": self.slough_timeout,
            "ineffective": float(self._ineffective),
            "rising": float(bool(self._run) and self._late and self._rising(self._run)),
            "probing": float(self._release.active),
            "hold": self._hold,
            "accept_queue": float(self._queue.latest),
            "gone_share": self._gone.share(),
            "gone_entries": float(self._gone_entries),
        }
