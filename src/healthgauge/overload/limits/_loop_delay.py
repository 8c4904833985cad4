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
- **A growing backlog enters, a standing one stays shed** (issue #11, rounds two and three;
  docs/overload.md has the measurements). A closed loop (clients that send the next request when
  the answer comes) keeps the loop late but *stable*, and a refusal only makes the client ask
  again sooner; an open loop above capacity makes a backlog that *grows*. So the limit enters
  overload only while the lag **rises**: the late samples of the last ``enter_time`` cut in
  thirds by time, each third's smallest above the previous one's by ``min_rise`` × the target
  and by ``min_growth`` (0.25) × the third's length; a third without a sample is a step (clients
  connecting), not a rise. Shedding then holds the backlog: after ``hold_time`` (0.25 s) without
  a rise the limit lets go and watches (the *release probe*). A lag that regrows past 1.5 × the
  lag that entered (rising by ``probe_growth`` over the probe, or each sparse sample later than
  the last) is shed again at once, and the next probe waits twice as long (up to ``max_hold``,
  8 s); a lag that stops rising below it is a closed loop's plateau, remembered for
  ``max_suppress`` (20 s): refilling to it is not growth. ``min_rise=0`` turns the test off.
- **Growth seen where it happens** (issue #11, fourth round). A loop deep in a backlog wakes the
  probe once per iteration, so the thirds above see too few samples (h11 at 2×: 22, 43, 96, 140 ms,
  entered 5 s late). Three iterations in a row each longer than the last (by ``min_rise`` × the
  target and ``min_growth`` × the time between the samples) enter at once, and two re-enter after
  a release: a closed loop steps up once, to the batch its clients keep. After the first of those
  two, a request that starts having waited as long as the second would have to be confirms it at
  once (``on_start``): the iteration running then is that long already, and at 4× it would have
  run on for ~0.6 s, every request in it answered that late (fifth round). And where the loop never
  takes the excess in — uvloop at 2-4× ran a flat 77-ms lag, like a closed loop, while the
  kernel's accept queue grew by ~1,000 connections a second — the host's ``accept_queue`` reading
  (``adapters._backlog``) can decide: with ``min_queue_growth=N`` (opt-in; 8 was measured) a
  queue standing for three intervals and grown by N connections in each is an open loop above
  capacity (a closed loop's clients connecting make it grow once, then drain); it enters, holds
  shedding while it grows, and ends a release probe. Off by default because there a 503 loses to
  the kernel: bare uvloop's excess times out unread at no CPU cost, a 503 through uvicorn costs
  ~58 µs, and shedding answered 81-91 % of capacity in time at 2-4× against bare's 95-99 % (its
  successes waited 35 ms at the median instead of 137). The reading is reported either way.
- **Work for clients already gone** (issue #11, seventh round). An open loop past its capacity
  keeps requests waiting longer than their clients wait for them: they give up at their deadline
  and the loop runs their handlers for no one. With ``skip_gone=True`` (opt-in), while the last
  sample was late (``watches_gone``), the adapters skip such requests unrun; the controller hands
  over, at each probe (``on_gone``), how many requests completed and how many of them were for
  clients gone. Not by default: on aiohttp the skipping let the growth tests enter on a closed
  loop stepping from 50 to 400 connections of the 3-ms handler in 2 runs of 9 (62-69 % of that
  phase's answers 503; none of 4 on h11, none of 9 without skipping). Also opt-in,
  ``min_gone_share=0.25`` (which skips too): with that share of the last ``enter_time``'s completions gone (at
  least ``min_gone``, 8), a lag past the slough threshold and twice the smallest of the three
  late samples before it enters (the growth tests missed a surge to 4× on h11 in about half the
  runs: the lag grew 0.07-0.2 s/s, then the clients left and the iterations came out shorter).
  Not by default: a closed loop whose batch outgrows its clients' deadline looks the same at
  its step (h11, 50 → 400 connections of the 3-ms handler, 150 ms → 1.2 s: 63 % of its answers
  503 with it on, docs/overload.md); skipping alone sheds nothing.
- **Proof that shedding helps.** If, within ``verify_time`` (1 s) of entering overload, no probe
  sample falls back to the slough threshold or to half the lag that entered it, refusing work did
  not relieve the loop (the delay
  was the host's, or connections', after all; wall-clock step timing counts preemption too): the
  limit stops shedding for ``suppress_time`` (5 s, doubling to ``max_suppress``, 20 s, while it
  keeps happening) and counts it (``ineffective`` in the statistics). Overload ends once
  ``exit_time`` (300 ms) has passed with neither a late sample nor a request that waited past the
  slough threshold.
- **Our own steps and the host's noise are not a queue.** A probe cannot wake while a handler
  step runs, so a handler that computes for 3 ms makes samples late by up to 3 ms on an idle
  server; on a shared or CPU-throttled host the process waits for a core now and then. The target
  is ``max(target, step_factor × the handlers' mean step, noise_factor × noise)``, at most
  ``max_target`` (50 ms), where ``noise`` is an EWMA of the largest lag of each interval that had
  no standing queue (its smallest sample at or below the target) while not shedding or probing
  and while our handlers took less than ``noise_share`` (0.75) of the loop (a saturated loop's
  worst samples are the start of a backlog, not the host).
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

INF = math.inf
# A growing accept queue is an open loop's when it grew in each of this many intervals in a row.
QUEUE_INTERVALS = 3


class LoopDelayLimit(Limit):
    """The default limit of :class:`~healthgauge.overload.AdmissionController` (module docstring).

    It needs the host's loop probe (``on_loop``); without one it never reports overload and never
    sheds (a fixed ``L`` of ``initial``).
    """

    __slots__ = (
        "_busy",
        "_ceiling",
        "_entered_at",
        "_entry_lag",
        "_first_above",
        "_floor",
        "_gone",
        "_gone_entries",
        "_hold",
        "_ineffective",
        "_last",
        "_last_above",
        "_last_queued",
        "_last_rising",
        "_last_shed",
        "_late",
        "_max_lag",
        "_min_lag",
        "_noise",
        "_overloaded",
        "_peak",
        "_plateau",
        "_plateau_until",
        "_probe",
        "_probing_since",
        "_queue",
        "_run",
        "_saturated",
        "_share",
        "_step",
        "_steps",
        "_suppress_for",
        "_suppressed_until",
        "_verified",
        "_win_end",
        "_win_start",
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
        self._gone: deque[tuple[float, int, int]] = deque()  # (probe time, completed, gone) per probe
        self._gone_entries = 0
        self._queue: deque[tuple[float, int]] = deque()  # (time, length) while the accept queue stands
        self._last_queued = -INF
        self.min_rise = float(min_rise)
        self.min_growth = float(min_growth)
        self.probe_growth = float(probe_growth)
        self.hold_time = float(hold_time)
        self.max_hold = float(max_hold)
        self._hold = self.hold_time  # doubles each time a release probe finds the backlog growing
        self._probe: deque[tuple[float, float]] = deque()  # samples since shedding was let go
        self._probing_since = -INF
        # While a release probe is under way: the wait with which a request that starts proves
        # the running iteration long enough to confirm regrowth (``_confirming_wait``), or INF.
        self._ceiling = INF
        self._run: deque[tuple[float, float]] = deque()  # (time, lag) of the current run of late samples
        self._last: deque[tuple[float, float]] = deque(maxlen=4)  # the last four samples, late or not
        self._last_rising = -INF
        self._plateau = 0.0  # the lag shedding was let go at (hold_time): rising back to it is no growth
        self._plateau_until = -INF
        self._win_start = -INF
        self._win_end = -INF  # the first probe opens the first interval
        self._busy = 0.0
        self._steps = 0
        self._step = 0.0
        self._share = 0.0
        self._max_lag = 0.0
        self._min_lag = INF
        self._noise = 0.0
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
        return self._share

    @property
    def effective_target(self) -> float:
        """``max(target, step_factor × mean handler step, noise_factor × noise)``, at most
        ``max_target``: the standing delay that counts as a queue here."""
        want = max(self.target, self.step_factor * self._step, self.noise_factor * self._noise)
        return min(want, max(self.target, self.max_target))

    @property
    def noise(self) -> float:
        """The loop's usual worst lag when it has no standing queue (EWMA of each such interval's
        largest sample): preemption by other processes, GC, one long step."""
        return self._noise

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
        """Keep the probes' completion counts of the last ``enter_time`` (at least the last
        probe's: one per long iteration when the loop is deep in a backlog)."""
        window = self._gone
        window.append((now, completed, gone))
        while len(window) > 1 and window[0][0] < now - self.enter_time:
            window.popleft()
        if len(window) > 256:
            window.popleft()

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
        has armed its regrowth test (``_ceiling``): a start may then confirm regrowth (``_regrew``),
        so every start must reach on_start."""
        if self._overloaded or self._ceiling < INF:
            return 0.0
        return math.floor(self.limit) - 1.0 if math.isfinite(self.limit) else self.limit

    def on_start(self, now: float, delay: float) -> bool:
        if self._overloaded:
            if self.sheds_at_start(now, delay):
                self._last_shed = now
                return True
            return False
        if delay > self._ceiling:  # INF unless a release probe saw the loop lengthen once
            return self._regrew(now, delay)
        return False

    def _regrew(self, now: float, delay: float) -> bool:
        """A request starts during a release probe after waiting past ``_ceiling``: the
        iteration running now is already as long as the next probe sample would have to be to
        confirm regrowth (``_regrowing``'s iteration tests), so it is confirmed now,
        not once that iteration ends: at 4× the second iteration after a release ran ~0.6 s
        and every request it admitted answered that late (issue #11, the tail at 2-4×).
        Same decision, taken earlier; this request is the first one sloughed."""
        if now - self._probing_since < self.interval or self._share < self.min_busy_share:
            return False
        self._end_probe()
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
        self._busy += busy
        self._steps += steps
        if lag > self._max_lag:
            self._max_lag = lag
        if lag < self._min_lag:
            self._min_lag = lag
        if now >= self._win_end:
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
        queue_growing = self._accepting_behind(now, accept_queue)
        rising = (self._late and self._rising(self._run)) or self._lengthening(last) or queue_growing
        abandoning = not rising and self._abandoning(lag)
        rising = rising or abandoning
        if rising:
            self._last_rising = now
        if self._overloaded:
            self._check(now, lag)
        elif self._probing_since > -INF:
            self._probe_step(now, lag, queue_growing)
        elif (
            rising
            and self._share >= self.min_busy_share
            and now >= self._suppressed_until
            and (queue_growing or now >= self._plateau_until or lag > self._plateau + self.effective_target)
        ):
            self._gone_entries += abandoning
            self._enter(now, lag)

    def _accepting_behind(self, now: float, queued: int | None) -> bool:
        """Connections wait in the kernel for the server to accept them, in every sample of the
        last ``QUEUE_INTERVALS`` intervals, and the queue grew by ``min_queue_growth`` in each of
        them: new connections keep arriving faster than the server takes them in. With uvloop
        that is where an open loop's whole excess waits while the loop's own lag stays flat
        (module ``adapters._backlog``). Clients of a closed loop connecting make the queue grow
        once and then drain (uvloop took 40 new connections in over a second while its loop ran
        a 3-ms handler: one interval's growth shed 73 % of a 50-client closed loop)."""
        run = self._queue
        if not queued:  # None (unknown) or 0: nothing stands
            run.clear()
            return False
        run.append((now, queued))
        growth = self.min_queue_growth
        if growth is None:  # reported (statistics), not judged
            while len(run) > 1:
                run.popleft()
            return False
        self._last_queued = now
        span = QUEUE_INTERVALS * self.interval
        while len(run) > 2 and run[1][0] <= now - span:
            run.popleft()  # keep one sample at least the span old
        if len(run) > 256:
            run.popleft()
        if now - run[0][0] < span:
            return False
        later = queued
        for k in range(1, QUEUE_INTERVALS + 1):
            # The newest sample at least k intervals old.
            earlier = next(q for t, q in reversed(run) if t <= now - k * self.interval)
            if later - earlier < growth:
                return False
            later = earlier
        return True

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
        if now - max(self._last_above, self._last_shed, self._last_queued) >= self.exit_time:
            self._overloaded = False  # nothing waits any more: the load fell
            self._hold = self.hold_time
        elif self.min_rise > 0 and now - self._last_rising >= self._hold:
            # Shedding holds the backlog: is it a standing queue that would grow again without
            # it (an open loop above capacity) or a closed loop's, which refusals cannot shorten?
            # Let go and watch (the release probe).
            self._overloaded = False
            self._probing_since = now
            self._probe.clear()
            self._probe.append((now, lag))

    def _probe_step(self, now: float, lag: float, queue_growing: bool = False) -> None:
        """Shedding was let go ``_probing_since``: shed again as soon as the backlog grows from
        there (an open loop: no need to wait for ``enter_time`` of lateness again); if for
        ``enter_time`` it does not, it was a closed loop's plateau: remember it and stay calm."""
        probe = self._probe
        probe.append((now, lag))
        if len(probe) > 256:
            probe.popleft()
        if now - max(self._last_above, self._last_queued) >= self.exit_time:
            self._end_probe()  # the loop caught up by itself: the load fell
            self._hold = self.hold_time
        elif (queue_growing and self._share >= self.min_busy_share) or (
            now - probe[0][0] >= self.interval  # a few 10-ms samples are one iteration's noise
            and self._share >= self.min_busy_share
            and self._regrowing(probe)
        ):
            self._end_probe()
            self._hold = min(self.max_hold, 2 * self._hold)  # confirmed: probe less often
            self._enter(now, lag, again=True)
        else:
            self._ceiling = self._confirming_wait(probe)
            if now - self._probing_since >= self.enter_time and self._flat(self._recent(probe)):
                self._settle(now, probe)

    def _settle(self, now: float, probe: deque[tuple[float, float]]) -> None:
        """The probe stopped rising below the lag that entered: a closed loop's plateau. The lag
        it settled at (the last third of the probe) is not growth when it refills to it later."""
        since = now - (now - self._probing_since) / 3
        self._plateau = max(lag for t, lag in probe if t >= since)
        self._plateau_until = now + self.max_suppress
        self._end_probe()
        self._hold = self.hold_time

    def _confirming_wait(self, probe: deque[tuple[float, float]]) -> float:
        """The least lag with which the next probe sample would make ``_regrowing`` confirm the
        regrowth by one of its iteration-by-iteration tests (INF: none can pass yet). A request
        that has waited that long when it starts shows the running iteration is that long."""
        return min(self._second_lengthening(probe), self._still_later(probe))

    def _second_lengthening(self, probe: deque[tuple[float, float]]) -> float:
        """Once the last sample was a lengthening: longer than it by ``min_rise`` × the target
        and by ``min_growth`` × its own gap, past the slough threshold and twice the lag let go
        at, and above a plateau seen recently."""
        if len(probe) < 2 or self.min_growth >= 1 or not self._longer(probe[-2], probe[-1]):
            return INF  # (min_growth ≥ 1: no lag is longer by its whole gap)
        (t0, _), (t1, last) = probe[-2], probe[-1]
        # The next sample comes ``its lag + spacing`` after this one (the probe's own interval,
        # as between the last two): lag - last > min_growth × (lag + spacing).
        spacing = max(0.0, t1 - t0 - last)
        target = self.effective_target
        need = max(last + self.min_rise * target, self.slough_timeout, 2 * probe[0][1])
        need = max(need, (last + self.min_growth * spacing) / (1 - self.min_growth))
        if probe[-1][0] < self._plateau_until:
            need = max(need, self._plateau + target)
        return need

    def _still_later(self, probe: deque[tuple[float, float]]) -> float:
        """Sparse samples: once the last was later than the one before, any later one past the
        entry level (``_regrowing``'s third test; h11 at 4× let go ran 51, 331, 399 ms, then a
        1.5-s iteration before that sample came)."""
        if len(probe) < 3 or not probe[-2][1] < probe[-1][1]:
            return INF
        entry = max(1.5 * self._entry_lag, self._entry_lag + self.effective_target)
        return max(entry, probe[-1][1])

    def _regrowing(self, probe: deque[tuple[float, float]]) -> bool:
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
            and lag > max(self.slough_timeout, 2 * probe[0][1])
            and (now >= self._plateau_until or lag > self._plateau + self.effective_target)
            and self._longer(probe[-3], probe[-2])
            and self._longer(probe[-2], probe[-1])
        ):
            return True
        if lag <= max(1.5 * self._entry_lag, self._entry_lag + self.effective_target):
            return False  # (a closed loop taken for growth mid-step entered below its plateau)
        if n >= 4 and self._rising(probe, self.probe_growth):
            return True
        # Sparse samples (one per long iteration): each later than the last, or far above
        # capacity doubling on each of the two samples after the release.
        if n >= 4:
            return probe[-3][1] < probe[-2][1] < lag
        return n == 3 and lag >= 2 * probe[1][1] and probe[1][1] >= 2 * max(probe[0][1], self.effective_target)

    def _longer(self, before: tuple[float, float], after: tuple[float, float]) -> bool:
        """``after`` is the next loop iteration's sample, and the iteration got longer: it came at
        least one iteration (``before``'s lag) later, and its lag exceeds ``before``'s by more
        than ``min_rise`` × the target and ``min_growth`` × the time between them."""
        (t0, lag0), (t1, lag1) = before, after
        gap = t1 - t0
        if gap < lag0:
            return False  # several samples in one iteration's time: dense, the thirds judge them
        return lag1 - lag0 > max(self.min_rise * self.effective_target, self.min_growth * gap)

    def _lengthening(self, last: deque[tuple[float, float]]) -> bool:
        """Three loop iterations in a row each longer than the last, all late: the excess enters
        the loop every iteration (an open loop above capacity on asyncio, whose loop reads every
        readable socket each iteration: at 2× the probe saw 43, 96, 140, 271 ms, one sample per
        iteration, where the thirds of ``enter_time`` found a third without a sample and waited
        5 s). A closed loop steps up once, to the batch its clients keep, and stays there."""
        if self.min_rise <= 0 or len(last) < 4:
            return False
        target = self.effective_target
        a, b, c, d = last
        return b[1] > target and self._longer(a, b) and self._longer(b, c) and self._longer(c, d)

    def _abandoning(self, lag: float) -> bool:
        """Work for clients already gone, while the lag grows: an open loop past its capacity.

        Its clients give up at their deadline while their requests still wait in the loop, so a
        share of what the loop completes (``min_gone_share`` of the last ``enter_time``'s
        completions, at least ``min_gone`` of them) is for no one; a closed loop's clients wait
        for their answers. The growth tests above cannot see such a surge on h11 at 4×: the lag
        grew 0.07-0.2 s/s (119, 107, 150, 163, 192 ms, under ``min_growth``), then the clients
        left and the iterations came out shorter (1,044, 1,542, 498 ms), so three lengthenings
        in a row never came; in about half the runs the detector never entered and nothing was
        answered in time. Here the evidence of growth is weaker, because the gone clients are
        evidence of their own: the lag past the slough threshold and twice the smallest of the
        three samples before it, all late (a standing plateau, however long, does not pass: a closed loop
        whose clients time out, as 2,000 connections of the ~3 ms handler do, stays at its
        plateau, and skipping its abandoned requests keeps it there)."""
        share = self.min_gone_share
        if share is None or self.min_rise <= 0 or len(self._last) < 4:
            return False
        done = gone = 0
        for _, completed, left in self._gone:
            done += completed
            gone += left
        if gone < self.min_gone or gone < share * done:
            return False
        before = min(sample for _, sample in list(self._last)[:-1])
        # All three late: a loop that steps up from on time (clients connecting to a closed
        # loop whose batch is longer than their deadline) has no standing lag to double yet.
        return before > self.effective_target and lag > max(self.slough_timeout, 2 * before)

    def _recent(self, probe: deque[tuple[float, float]]) -> deque[tuple[float, float]]:
        """The probe's samples of the last ``enter_time`` (at least the last four)."""
        start = probe[-1][0] - self.enter_time
        recent = deque(sample for sample in probe if sample[0] >= start)
        return recent if len(recent) >= 4 else deque(list(probe)[-4:])

    def _flat(self, recent: deque[tuple[float, float]]) -> bool:
        """Evidence of a plateau: samples in each third of the recent window, not rising."""
        start, end = recent[0][0], recent[-1][0]
        third = (end - start) / 3
        if third <= 0:
            return False
        parts = {min(2, int((t - start) / third)) for t, _ in recent}
        return len(parts) == 3 and not self._rising(recent, self.probe_growth)

    def _end_probe(self) -> None:
        self._probing_since = -INF
        self._probe.clear()
        self._ceiling = INF

    def _remember(self, now: float, lag: float) -> None:
        """Keep the late samples of the last ``enter_time`` (at least the last six)."""
        run = self._run
        run.append((now, lag))
        while len(run) > 6 and run[0][0] < now - self.enter_time:
            run.popleft()
        while len(run) > 256:
            run.popleft()

    def _rising(self, run: deque[tuple[float, float]], growth: float | None = None) -> bool:
        """The loop's delay grew across ``run``: split in thirds (by time), the smallest sample of
        each third exceeds the previous third's by more than ``min_rise`` × the target and by
        ``min_growth`` × the third's length (arrivals ≥ 1 + ``min_growth`` × what the loop
        visibly completes). A growing backlog rises throughout; the ramp of connections opening
        ends early, and spikes (preemption, a long step) only ever raise a minimum."""
        if self.min_rise <= 0:
            return True
        if len(run) < 3:
            return False
        start = run[0][0]
        third = (run[-1][0] - start) / 3
        lows = [INF, INF, INF]
        for t, lag in run:
            part = min(2, int((t - start) / third)) if third > 0 else 0
            lows[part] = min(lows[part], lag)
        a, b, c = lows
        if not math.isfinite(a + b + c):
            # A third without a sample: a step (clients connecting at once), not a steady rise.
            # (Cutting by count instead made 34 % of a 400-client closed loop's answers 503 on
            # a busy host; a loop deep in an open loop's backlog is then not seen growing.)
            return False
        slope = self.min_growth if growth is None else growth
        need = max(self.min_rise * self.effective_target, slope * third)
        return b - a > need and c - b > need

    # -- internals -------------------------------------------------------------------------------

    def _close(self, now: float) -> None:
        """Close the statistics interval (busy share, mean step, limit moves) and open the next."""
        length = now - self._win_start
        if math.isfinite(length) and length > 0:
            self._share = min(1.0, self._busy / length)
            if self._steps:
                mean = self._busy / self._steps
                self._step = mean if self._step == 0 else 0.8 * self._step + 0.2 * mean
            calm = not self._overloaded and self._probing_since == -INF
            # Learn the host's noise only while the loop has room (busy share under noise_share):
            # a saturated loop's worst samples are the start of a backlog, not the host (at 2×
            # they raised the target from 12 to 36 ms before the first entry, and with it the
            # slough threshold and the wait of every request served).
            unsaturated = self._share < self.noise_share
            if calm and unsaturated and self._min_lag <= self.effective_target and math.isfinite(self._max_lag):
                self._noise += 0.05 * (self._max_lag - self._noise)
            self._move()
        self._win_start = now
        self._win_end = now + self.interval
        self._busy = 0.0
        self._steps = 0
        self._max_lag = 0.0
        self._min_lag = INF
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
        if self._saturated and self._max_lag <= self.effective_target:
            self._set(max(self.limit + 1, self.limit * self.growth))

    def _details(self) -> dict[str, float]:
        return {
            "late": float(self._late),
            "overloaded": float(self._overloaded),
            "busy_share": self._share,
            "floor": self.floor,
            "target": self.effective_target,
            "noise": self._noise,
            "slough_timeout": self.slough_timeout,
            "ineffective": float(self._ineffective),
            "rising": float(bool(self._run) and self._late and self._rising(self._run)),
            "probing": float(self._probing_since > -INF),
            "hold": self._hold,
            "accept_queue": float(self._queue[-1][1]) if self._queue else 0.0,
            "gone_share": self._gone_share(),
            "gone_entries": float(self._gone_entries),
        }

    def _gone_share(self) -> float:
        done = sum(completed for _, completed, _ in self._gone)
        return sum(gone for _, _, gone in self._gone) / done if done else 0.0
