"""The admission controller: one limit, an optional wait queue, an optional slough detector,
criticality and partitions, combined into permits and rejections (spec §1.2, §3, §5).

Life of a request (the module docstring of ``healthgauge.overload`` shows an adapter's code):

1. ``acquire(...)`` returns a ``Permit`` (run it now), a ``Waiter`` (queued: it will be granted a
   permit, or rejected, by some later call) or a ``Rejection`` (answer 503/504 at once).
2. At handler start, ``permit.start(extra_delay=loop_lag)`` feeds the queueing delay to the
   detectors; it returns a ``Rejection`` when the request must be sloughed instead of run.
3. Exactly once, ``permit.success()``, ``permit.dropped()`` or ``permit.ignore()``. Releasing a
   permit may grant queued waiters; their callbacks run synchronously inside that call.

Two shorter ways in serve the middlewares' common request (issue #11: the middleware's own CPU
≤ 5 % of a trivial handler's, ~1 µs), both completed by ``leave(outcome)``, with no permit object:

- ``enter_calm()`` while the controller is *calm*: not draining, no wait queue and no slough
  detector, every in-flight cost 1, and in-flight below the bound the limit gives for this probe
  interval (``Limit.calm_below``: the default ``LoopDelayLimit`` gives ``L - 1`` while not
  overloaded). There an admission cannot be refused or sloughed and changes nothing in the limit
  but its peak in-flight count: it is counted (in-flight, ``admitted``) and nothing else, no
  clock read. What the limit and the delay window would have seen of it is handed over once per
  loop probe (``observe_loop``): the interval's peak in-flight as one ``on_admission`` call, and
  the probe's lag as the delay of the interval's starts (the delay such a request had at its start
  *is* the latest lag sample). ``admitted``, ``completed``, ``rejected`` stay exact counts.
- ``enter(now, ...)`` otherwise for a request received now, of cost 1, without partition, when
  nothing is queued and it is below the limit with a limit that takes no RTT samples: steps 1 and
  2 in one call at one clock reading, passed in. Any other request gets ``False`` and takes
  ``acquire``. The limit's hooks are called only where its class overrides them (decided once, at
  construction); a permit's completion reads the clock only for a limit that takes RTT samples.

Two delays are measured at start. The *limit delay* runs from the permit's grant to the start
(waiting for a CPU or the event loop) and drives the limit: our own queue's wait must not, or a
limit that is too small for a slow dependency would read its own queue as overload and shrink
further (benchmark S3). The *total delay* runs from receipt (``received_at``, e.g. a proxy's
request-start header) and is what the 0–100 load figure and ``overloaded`` report.
"""

from __future__ import annotations

import math
import random
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from healthgauge.overload._permit import Partition, Permit, Waiter
from healthgauge.overload._permit import partitions as _shares  # the constructor's argument shadows the name
from healthgauge.overload._queue import QueueStatistics, WaitQueue
from healthgauge.overload._types import NO_DEADLINE, Clock, Criticality, Outcome, Rejection, RejectReason
from healthgauge.overload.limits._codel import DelayWindow, FollyCodel, delay_load
from healthgauge.overload.limits._limit import Limit, LimitStatistics
from healthgauge.overload.limits._loop_delay import LoopDelayLimit

_CRITICALITY_KEYS = tuple(level.name.lower() for level in Criticality)  # indexed by the level
SHEDDABLE = Criticality.SHEDDABLE
SHEDDABLE_PLUS = Criticality.SHEDDABLE_PLUS
CRITICAL = Criticality.CRITICAL

# Retry-After (spec §10.2): 1 or 2 s normally, 3-5 s once shedding has gone on for 10 s. A gap of
# a second without any rejection ends a shedding streak.
RETRY_AFTER_LONG_SHEDDING = 10.0
SHEDDING_STREAK_GAP = 1.0


class CalmTally:
    """The controller's in-flight and admission counts, kept where an adapter can write them
    inline for a *calm* admission (module docstring), with no call: two Python calls
    (``enter_calm``, ``leave_calm``) cost ~2,600 instructions a request, 2.6 % of a trivial
    answer on uvicorn + httptools; the same counting written inline ~1,000 (issue #11).

    The contract, the whole of it (``enter_calm`` and ``leave_calm`` are the reference; an
    adapter may call them instead):

    - admit: ``n = t.inflight``; only if ``n < t.below`` (``t.below_sheddable`` for a request
      below ``CRITICAL``): ``t.inflight = n + 1``; ``t.peak = n + 1`` if ``n >= t.peak``;
      ``t.admitted += 1`` (its new value is the request's number, for metering picks);
    - complete, exactly once: ``t.inflight -= 1``, and ``AdmissionController.gone_calm()``
      when the client went away before the answer (``ignored``). A failure is completed as
      any other (``AdmissionController.leave(outcome)``).

    Nothing else writes them but the controller. It sets ``below`` at each probe and state
    change; a success is not counted: ``statistics`` derives it (every admission is in flight or
    completed once, so the successes are ``admitted - inflight`` less the other completions)."""

    __slots__ = ("admitted", "below", "below_sheddable", "inflight", "peak")

    def __init__(self) -> None:
        self.inflight = 0  # requests admitted and not completed (every path, not only calm ones)
        self.admitted = 0  # admissions since creation (every path)
        self.below = 0  # a calm admission only while inflight is below this (0: none)
        self.below_sheddable = 0  # the same for a request below CRITICAL
        self.peak = 0  # the largest in-flight a calm admission made since the last probe


@dataclass(frozen=True, slots=True, kw_only=True)
class ControllerStatistics:
    """The admission controller's snapshot: what the agent-check responder, the Prometheus export
    and the benchmark's trajectory read. Delays in seconds; counters since creation, keyed by the
    enum values (``"limit"``, ``"success"``, ``"sheddable"``...)."""

    limit: float
    inflight: int
    inflight_cost: float
    queued: int
    oldest_age: float
    win_min: float
    load: int
    overloaded: bool
    draining: bool
    monitor_only: bool
    admitted: int
    enqueued: int
    completed: Mapping[str, int]
    rejected: Mapping[str, int]
    rejected_by_criticality: Mapping[str, int]
    would_reject: Mapping[str, int]
    abandoned: int
    partitions: Mapping[str, int]
    limit_statistics: LimitStatistics
    queue_statistics: QueueStatistics | None


class AdmissionController:
    """Admission for one endpoint or route group: permits, queueing and shedding.

    Defaults are healthgauge's default policy: ``LoopDelayLimit`` (queue delay that admitted work
    causes, fed by the host's loop probe through ``observe_loop``; issue #11) and no wait queue.
    Pass ``queue=WaitQueue()`` for a bounded queue with adaptive LIFO and active
    expiry (§3): queued requests wait for a permit instead of being rejected. Other pieces:

    - ``detector``: a ``FollyCodel`` that sheds at start (the folly anchor); ``QueueDelayLimit``
      sheds by itself.
    - ``partitions``: ``{"live": 0.9, "batch": 0.1}``; a partition's share is enforced only at
      saturation, so idle capacity is borrowed (§5.1). Unknown partitions get only the excess.
    - ``shed_sheddable``: while overloaded, reject ``SHEDDABLE`` arrivals at once and give
      ``SHEDDABLE_PLUS`` the short queue timeout (§5.2 rule 2).
    - ``monitor_only``: decide everything, enforce nothing, count would-be rejections (§1.2).
    - ``concurrency_load``: include ``100 × n / L`` in the load figure (§10.1, off by default).
    - ``clock``, ``rng``: injected; ``rng`` only draws Retry-After jitter.

    Not thread-safe: drive it from one thread or one event loop.
    """

    __slots__ = (
        "_abandoned",
        "_calm_possible",
        "_clock",
        "_completed",
        "_costly",
        "_detector",
        "_done_at_probe",
        "_draining",
        "_enqueued",
        "_extra",
        "_gone",
        "_hooks_admission",
        "_hooks_gone",
        "_hooks_start",
        "_last_shed",
        "_limit",
        "_partitions",
        "_queue",
        "_rejected",
        "_rejected_by_criticality",
        "_rng",
        "_samples",
        "_shed_sheddable",
        "_shedding_since",
        "_tally",
        "_window",
        "_would_reject",
        "concurrency_load",
        "monitor_only",
        "tally",
        "watch_gone",
    )

    def __init__(
        self,
        limit: Limit | None = None,
        *,
        queue: WaitQueue[Waiter] | None = None,
        detector: FollyCodel | None = None,
        partitions: Mapping[str, float] | None = None,
        shed_sheddable: bool = True,
        monitor_only: bool = False,
        concurrency_load: bool = False,
        delay_target: float = 0.005,
        delay_interval: float = 0.1,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._limit = LoopDelayLimit() if limit is None else limit
        self._queue = queue
        self._detector = detector
        self._partitions = _shares(partitions)
        self._shed_sheddable = shed_sheddable
        self.monitor_only = monitor_only
        self.concurrency_load = concurrency_load
        self._window = DelayWindow(target=delay_target, interval=delay_interval)
        self._clock = clock
        self._rng = random.Random() if rng is None else rng
        # In flight and admitted, with what calm admissions need, in one object the adapters may
        # write inline (CalmTally: its docstring is the contract).
        self.tally = self._tally = CalmTally()
        # The in-flight cost (what the limit counts) is ``tally.inflight + _extra``: the sum of the
        # in-flight permits' ``cost - 1`` (``_costly`` of them have a cost other than 1), exactly
        # 0.0 while every cost is 1, so a calm admission counts one integer (enter_calm).
        self._extra = 0.0
        self._costly = 0
        self._draining = False
        self._shedding_since = -math.inf
        self._last_shed = -math.inf
        self._enqueued = 0
        # Decided once (structlog's habit): which of the limit's per-request hooks do anything.
        # A hook a limit does not override is the base class's no-op: calling it costs ~0.1 µs a
        # request, and a sample costs a clock reading at completion besides.
        kind = type(self._limit)
        self._hooks_admission = kind.on_admission is not Limit.on_admission
        self._hooks_start = kind.on_start is not Limit.on_start
        self._samples = kind.on_sample is not Limit.on_sample
        self._hooks_gone = kind.on_gone is not Limit.on_gone
        # Requests for clients already gone (skipped unrun: ``abandon``; or completed after the
        # client went: ``leave_calm(gone=True)``, ``note_gone``), and all completions, since the
        # last probe: the limit's evidence that work is being done for no one (``on_gone``).
        self._abandoned = 0
        self._gone = 0
        self._done_at_probe = 0
        # Set at each probe by the limit (``watches_gone``): the adapters look for a gone client
        # before running a request (a socket peek) only while this is True. One attribute read
        # on the calm path otherwise.
        self.watch_gone = False
        # Calm admissions (enter_calm): only where nothing per request can matter (module docstring).
        self._calm_possible = queue is None and detector is None
        self._completed = dict.fromkeys((o.value for o in Outcome), 0)
        self._rejected = dict.fromkeys((r.value for r in RejectReason), 0)
        self._would_reject = dict.fromkeys((r.value for r in RejectReason), 0)
        self._rejected_by_criticality = dict.fromkeys(_CRITICALITY_KEYS, 0)
        self._recalm()

    # -- reading ---------------------------------------------------------------------------------

    @property
    def limit(self) -> Limit:
        return self._limit

    @property
    def queue(self) -> WaitQueue[Waiter] | None:
        return self._queue

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def inflight(self) -> int:
        return self._tally.inflight

    @property
    def inflight_cost(self) -> float:
        """The sum of the in-flight permits' costs (equal to ``inflight`` when every cost is 1)."""
        return self._tally.inflight + self._extra

    @property
    def admitted(self) -> int:
        """Requests admitted since creation (an exact count, calm admissions included)."""
        return self._tally.admitted

    @property
    def calm(self) -> bool:
        """Whether the next request of cost 1 would be admitted by counting only (``enter_calm``)."""
        return self._tally.inflight < self._tally.below

    @property
    def shed_sheddable(self) -> bool:
        """While overloaded, reject ``SHEDDABLE`` arrivals at once (§5.2 rule 2)."""
        return self._shed_sheddable

    @shed_sheddable.setter
    def shed_sheddable(self, value: bool) -> None:
        self._shed_sheddable = value
        self._recalm()

    @property
    def draining(self) -> bool:
        return self._draining

    def overloaded(self, now: float | None = None) -> bool:
        """The limit, the detector or the measured delay says the server is overloaded."""
        if self._limit.overloaded or (self._detector is not None and self._detector.is_overloaded):
            return True
        if self._limit.judges_overload:
            return False
        return self._window.overloaded(self._clock() if now is None else now)

    def win_min(self, now: float | None = None) -> float:
        """Minimum total queueing delay of the last interval (s), at least the oldest waiter's age."""
        now = self._clock() if now is None else now
        age = self._queue.oldest_age(now) if self._queue is not None else 0.0
        return max(self._window.current(now), age)

    def load(self, now: float | None = None) -> int:
        """The load figure 0–100 of spec §10.1: ``max(load_delay, load_conc)``, and 100 while
        shedding (a refusal for overload or at the limit within the last ``SHEDDING_STREAK_GAP``).

        Why the last: shedding is what keeps the delay low, so the delay alone told the load
        balancer "no load" between refusals, and the weight it heard swung between the floor
        and 100 % with every release probe of the default limit (polled every 0.25 s at 2× on
        uvicorn: 10, 100, 10, 92, 100, 10 ... %, the median over a 6-s phase 90-100 %, issue #11).
        A server that refuses work is at its capacity; the figure falls back to the delay's one
        second after the last refusal."""
        now = self._clock() if now is None else now
        if now - self._last_shed <= SHEDDING_STREAK_GAP:
            return 100
        load = delay_load(self.win_min(now), self._window.target)
        if self.concurrency_load and self._limit.limit > 0:
            load = max(load, min(100, round(100.0 * self.inflight_cost / self._limit.limit)))
        return load

    def next_expiry(self) -> float | None:
        """When a queued request will next expire (clock time), so an adapter can time its tick."""
        return None if self._queue is None else self._queue.next_expiry(self._clock())

    def refuses(self, now: float, extra_delay: float = 0.0) -> bool:
        """Would every request arriving at ``now`` (cost 1, no partition, any criticality) be
        refused, ``extra_delay`` being the loop lag its start would add? True while draining, at
        the limit without a wait queue, or when the limit would shed it at its start
        (``Limit.sheds_at_start``); never in monitor-only mode. Changes nothing: the early
        refusal (``adapters/_early.py``) asks it before the server parses a request, then takes
        the usual way (``enter``/``acquire``), which counts the refusal."""
        if self.monitor_only:
            return False
        if self._draining:
            return True
        if self._queue is not None:
            return False  # at the limit it would wait, not be refused
        units = self._tally.inflight + self._extra
        if units > 0 and units > self._limit.limit - 1:
            return True
        return self._hooks_start and self._limit.sheds_at_start(now, extra_delay)

    # -- driving ---------------------------------------------------------------------------------

    def set_draining(self, draining: bool = True) -> None:
        """Reject new arrivals with ``draining`` (after the shutdown grace period, spec §10.1)."""
        self._draining = draining
        self._recalm()

    def observe_loop(self, lag: float, busy: float = 0.0, steps: int = 0, accept_queue: int | None = None) -> None:
        """The host's event-loop probe (every 10 ms): ``lag`` seconds late; ``busy`` seconds spent
        inside admitted handlers, in ``steps`` synchronous steps, since the previous call;
        ``accept_queue`` connections the kernel holds for the server to accept (``None``: unknown).
        Feeds the limit (the load figure reads the requests' own delays, lag at their start
        included). First it hands over what the calm admissions since the last probe would have
        told the limit and the delay window (the module docstring says why that is the same)."""
        now = self._clock()
        peak = self._tally.peak
        limit = self._limit
        if peak:
            self._tally.peak = 0
            if self._hooks_admission:
                limit.on_admission(now, peak - 1, False)
            self._window.add(now, lag)
        if self._hooks_gone:
            done = self._tally.admitted - self._tally.inflight + self._abandoned
            limit.on_gone(now, done - self._done_at_probe, self._gone)
            self._done_at_probe = done
            self._gone = 0
        limit.on_loop(now, lag, busy, steps, accept_queue)
        self.watch_gone = limit.watches_gone()
        self._recalm()

    def tick(self) -> None:
        """Active expiry and grants, from the host's periodic timer (HG: every 10 ms) or at
        ``next_expiry()``. Callbacks of resolved waiters run inside this call."""
        if self._queue is not None and len(self._queue):
            now = self._clock()
            self._resolve_removed(self._queue.expire(now), now)
            self._pump(now)

    def acquire(
        self,
        *,
        criticality: Criticality = CRITICAL,
        deadline: float | None = None,
        received_at: float | None = None,
        partition: str | None = None,
        cost: float = 1.0,
        now: float | None = None,
    ) -> Permit | Waiter | Rejection:
        """Admit, queue or reject one request.

        ``deadline`` and ``received_at`` are readings of this controller's clock (absolute): when the
        client gives up, and when the request was first seen (default now; a proxy's request-start
        header makes it earlier). ``partition`` names a share given at construction. ``cost`` (> 0,
        default 1) is what the request counts against the limit: admitted while the in-flight costs
        plus this one stay within ``L``, and always when nothing is in flight (a cost above ``L``
        still runs, alone). Queued waiters are granted while at least one unit is free. ``now``:
        the clock's reading, when the caller has one (default: read it).
        """
        if now is None:
            now = self._clock()
        if received_at is None or received_at > now:
            received_at = now
        if self._draining:
            return self._refuse(RejectReason.DRAINING, criticality, now)
        if deadline is not None and deadline <= now:
            return self._refuse(RejectReason.DEADLINE, criticality, now)
        queue = self._queue
        if queue is not None and len(queue) and self._tally.inflight + self._extra <= self._limit.limit - 1:
            self._pump(now)  # the limit grew since the last release (pops expire stale entries)
        overloaded = self._shed_sheddable and criticality <= SHEDDABLE_PLUS and self.overloaded(now)
        if overloaded and criticality is SHEDDABLE:
            rejected = self._reject(RejectReason.PRIORITY, criticality, now)
            if rejected is not None:
                return rejected
        part = self._partitions.get(partition) if partition is not None and self._partitions else None
        limit = self._limit
        n = self._tally.inflight
        units = n + self._extra
        full = units + cost > limit.limit if cost != 1.0 else units > limit.limit - 1
        at_limit = full and units > 0 and (part is None or part.full(limit.limit))
        if self._hooks_admission:
            limit.on_admission(now, n, at_limit)
        if at_limit:
            if queue is None:
                rejected = self._reject(RejectReason.LIMIT, criticality, now)
                if rejected is not None:
                    return rejected
            elif not self.monitor_only:
                return self._enqueue(criticality, deadline, received_at, part, now, overloaded, cost)
        return self._grant(received_at, now, criticality, part, cost)

    def enter_calm(self) -> int:
        """Admit and start a request of cost 1 and criticality ``CRITICAL`` or above, received now,
        by counting it, while the controller is *calm* (module docstring): its number
        (``admitted`` after it, ≥ 1; the adapters pick the handlers they time by it) when it was
        (complete it with :meth:`leave_calm` or :meth:`leave`, exactly once), or 0, having
        changed nothing, when it is not calm (call :meth:`enter`). Reads no clock.
        :meth:`calm_entry` gives the one for another criticality.

        Why: on a trivial handler every call, object and clock reading of the middleware shows
        (issue #11), and below its limit and out of overload nothing about one request can change
        what the controller decides: the limit sees only the interval's peak, at the probe."""
        t = self._tally
        n = t.inflight
        if n >= t.below:
            return 0
        t.inflight = n + 1
        if n >= t.peak:
            t.peak = n + 1
        admitted = t.admitted + 1
        t.admitted = admitted
        return admitted

    def calm_entry(self, criticality: Criticality) -> Callable[[], int]:
        """:meth:`enter_calm` for requests of ``criticality`` (an adapter's default, chosen once)."""
        return self.enter_calm if criticality >= CRITICAL else self._enter_calm_sheddable

    def _enter_calm_sheddable(self) -> int:
        return self.enter_calm() if self._tally.below_sheddable else 0

    def leave_calm(self, gone: bool = False) -> None:
        """Complete a calm admission: ``success``, or ``ignored`` when the client went away before
        the answer (:meth:`gone_calm`). :meth:`leave` for less: calm needs no queue, and a success
        is not counted (``statistics`` derives it, :class:`CalmTally`)."""
        t = self._tally
        if t.inflight <= 0:
            raise RuntimeError("leave_calm() without a request in flight")
        t.inflight -= 1
        if gone:
            self.gone_calm()

    def gone_calm(self) -> None:
        """A calm admission, completed (``tally.inflight`` already lowered), was answered after its
        client went away: ``ignored``, and evidence for the limit (``on_gone``)."""
        self._completed["ignored"] += 1
        self._gone += 1

    def abandon(self) -> None:
        """A request reached the adapter after its client had gone (the connection closed while
        it waited in the server): it is not admitted, not run and not answered, only counted
        (``abandoned``) as evidence for the limit (``on_gone``): work the loop was about to do
        for no one. Adapters look for such requests only while ``watch_gone`` is set."""
        self._abandoned += 1
        self._gone += 1

    def note_gone(self) -> None:
        """A request admitted otherwise than by ``enter_calm`` was completed after its client had
        gone (complete it as ``ignored`` too): evidence for the limit, as in ``abandon``."""
        self._gone += 1

    def enter(self, now: float, extra_delay: float = 0.0, criticality: Criticality = CRITICAL) -> bool | Rejection:
        """Admit and start the common request at ``now``, with no permit object: ``True`` when it
        was (complete it with :meth:`leave`, exactly once: nothing checks it for you); ``False``,
        having changed nothing, when it is not the common case (call ``acquire``); a
        ``Rejection`` when the limit or the detector sloughed it at its start, exactly as
        ``acquire`` then ``permit.start(extra_delay)`` would have.

        The common case: received ``now``, cost 1, no partition, not sheddable while shedding
        applies, nothing queued, not draining, below the limit, and a limit that takes no RTT
        samples (``on_sample`` not overridden: the default ``LoopDelayLimit``, ``FixedLimit``), so
        that completing it needs nothing of the request. Why a second way in: the middlewares pay
        for every object, call and clock reading on every request (issue #11), and the permit
        object, its completion and ``acquire``'s branches were half of the admission's cost."""
        if self._draining or self._samples or (criticality <= SHEDDABLE_PLUS and self._shed_sheddable):
            return False
        queue = self._queue
        if queue is not None and len(queue):
            return False
        limit = self._limit
        n = self._tally.inflight
        if n + self._extra > limit.limit - 1:  # at the limit (L ≥ 1, so something is in flight): acquire decides
            return False
        if self._hooks_admission:
            limit.on_admission(now, n, False)
        self._tally.inflight = n + 1
        self._tally.admitted += 1
        window = self._window
        if extra_delay < window.partial_min or now >= window.end:  # else add() would change nothing
            window.add(now, extra_delay)
        shed = self._hooks_start and limit.on_start(now, extra_delay)
        detector = self._detector
        if detector is not None and detector.overloaded(extra_delay, now):
            shed = True
        if shed:
            rejection = self._reject(RejectReason.EXPIRED, criticality, now)
            if rejection is not None:
                self.leave("ignored")
                return rejection
        return True

    def leave(self, outcome: str = "success") -> None:
        """Complete a request that :meth:`enter` or :meth:`enter_calm` admitted: ``"success"``,
        ``"dropped"`` or ``"ignored"`` (the ``Outcome`` values). No sample: both admit only for a
        limit that takes none. Queued waiters may be granted inside this call."""
        n = self._tally.inflight - 1
        if n < 0:
            raise RuntimeError("leave() without a request in flight")
        self._tally.inflight = n
        self._completed[outcome] += 1
        queue = self._queue
        if queue is not None and len(queue):
            self._pump(self._clock())

    # -- internals -------------------------------------------------------------------------------

    def _recalm(self) -> None:
        """Decide, for the admissions until the next probe, the in-flight count and criticality
        below which one is admitted by counting only (``enter_calm``): after each probe (the limit
        moves and judges there; ``Limit.calm_below`` holds until its next ``on_loop``) and each
        change of the controller's own state (draining, costs other than 1, ``shed_sheddable``)."""
        below = self._limit.calm_below() if self._calm_possible and not self._draining and not self._costly else 0
        t = self._tally
        t.below = int(below) if below < sys.maxsize else sys.maxsize  # ints compare fastest
        # A sheddable request is shed while overloaded; a limit that judges overload says it is
        # not (calm_below > 0), the delay window could say otherwise at any start.
        t.below_sheddable = t.below if not self._shed_sheddable or self._limit.judges_overload else 0

    def _grant(
        self, received_at: float, now: float, criticality: Criticality, part: Partition | None, cost: float = 1.0
    ) -> Permit:
        self._tally.inflight += 1
        if cost != 1.0:
            self._costly += 1
            self._extra += cost - 1.0
            self._recalm()
        if part is not None:
            part.inflight += 1
        self._tally.admitted += 1
        return Permit(self, received_at, now, criticality, part, self._tally.inflight, cost)

    def _enqueue(
        self,
        criticality: Criticality,
        deadline: float | None,
        received_at: float,
        part: Partition | None,
        now: float,
        overloaded: bool,
        cost: float = 1.0,
    ) -> Waiter | Rejection:
        queue = self._queue
        assert queue is not None
        max_wait = queue.standing_timeout if overloaded and criticality is SHEDDABLE_PLUS else None
        waiter = Waiter(
            self,
            criticality=criticality,
            deadline=NO_DEADLINE if deadline is None else deadline,
            max_wait=max_wait,
            received_at=received_at,
            partition=part,
            cost=cost,
        )
        removed = queue.push(waiter, now, self._limit.limit)
        if waiter.reason is not None:
            removed.remove(waiter)
            self._resolve_removed(removed, now)
            return self._refuse(waiter.reason, criticality, now)
        self._enqueued += 1
        self._resolve_removed(removed, now)
        return waiter

    def _reject(self, reason: RejectReason, criticality: Criticality, now: float) -> Rejection | None:
        """Count a rejection and build it; in monitor-only mode count it as would-be and return None
        (the caller then admits)."""
        if self.monitor_only:
            self._would_reject[reason._value_] += 1
            return None
        return self._refuse(reason, criticality, now)

    def _refuse(self, reason: RejectReason, criticality: Criticality, now: float) -> Rejection:
        """Count and build a rejection, even in monitor-only mode: used for a passed deadline (nobody
        waits for the answer) and for draining (the process is going away)."""
        self._rejected[reason._value_] += 1
        self._rejected_by_criticality[_CRITICALITY_KEYS[criticality]] += 1
        retry_after = None if reason is RejectReason.DEADLINE else self._retry_after(now)
        return Rejection(reason, retry_after, criticality, now)

    def _retry_after(self, now: float) -> int:
        if now - self._last_shed > SHEDDING_STREAK_GAP:
            self._shedding_since = now
        self._last_shed = now
        if now - self._shedding_since > RETRY_AFTER_LONG_SHEDDING:
            return 3 + int(self._rng.random() * 3)
        return 1 + int(self._rng.random() * 2)

    def _resolve_removed(self, removed: list[Waiter], now: float) -> None:
        for waiter in removed:
            reason = waiter.reason
            assert reason is not None
            waiter.rejection = self._refuse(reason, waiter.criticality, now)  # monitor-only never queues
            waiter._resolve()

    def _pump(self, now: float) -> None:
        """Grant permits to queued waiters while the limit allows."""
        queue = self._queue
        if queue is None:
            return
        limit = self._limit
        while len(queue) and self._tally.inflight + self._extra <= limit.limit - 1:
            waiter, removed = queue.pop(now)
            if removed:
                self._resolve_removed(removed, now)
            if waiter is None:
                return
            waiter.permit = self._grant(waiter.received_at, now, waiter.criticality, waiter.partition, waiter.cost)
            waiter._resolve()

    def _withdraw(self, waiter: Waiter) -> None:
        assert self._queue is not None
        self._queue.remove(waiter, self._clock())

    def _start(self, permit: Permit, extra_delay: float, now: float | None = None) -> Rejection | None:
        if permit.started_at is not None or permit._done:
            raise RuntimeError("permit.start() called twice or after completion")
        if now is None:
            now = self._clock()
        permit.started_at = now
        self._window.add(now, now - permit.received_at + extra_delay)
        delay = now - permit.granted_at + extra_delay
        shed = self._hooks_start and self._limit.on_start(now, delay)
        if self._detector is not None and self._detector.overloaded(delay, now):
            shed = True
        if shed:
            rejection = self._shed(permit, now)
            if rejection is not None:
                return rejection
        if self._queue is not None and len(self._queue):
            self._pump(now)
        return None

    def _shed(self, permit: Permit, now: float) -> Rejection | None:
        """The limit or the detector sheds a request at its start: release its permit and return
        the rejection (monitor-only: count it, keep the permit, return None)."""
        rejection = self._reject(RejectReason.EXPIRED, permit.criticality, now)
        if rejection is not None:
            self._finish(permit, None, "ignored")
        return rejection

    def _finish(self, permit: Permit, dropped: bool | None, outcome: str) -> None:
        """Complete a permit: ``dropped`` is None for ``ignored`` (no sample). String keys and
        booleans rather than the ``Outcome`` enum: hashing an enum costs ~0.4 µs on this path.
        The clock is read only for a limit that takes samples, or to grant queued waiters."""
        if permit._done:
            raise RuntimeError(f"permit completed twice (second outcome: {outcome})")
        if dropped is not None and self._samples:
            now = self._clock()
            received = permit.received_at
            self._limit.on_sample(now, received, now - received, permit.inflight, dropped)
        permit._done = True
        n = self._tally.inflight - 1
        self._tally.inflight = n
        cost = permit.cost
        if cost != 1.0:
            self._costly -= 1
            self._extra = self._extra - (cost - 1.0) if self._costly else 0.0  # no float drift
            self._recalm()
        if permit.partition is not None:
            permit.partition.inflight -= 1
        self._completed[outcome] += 1
        queue = self._queue
        if queue is not None and len(queue):
            self._pump(self._clock())

    def _completions(self) -> dict[str, int]:
        """The completions by outcome; the successes no path counted (calm ones: :class:`CalmTally`)
        are what is neither in flight nor completed otherwise."""
        completed = dict(self._completed)
        completed["success"] += self._tally.admitted - self._tally.inflight - sum(completed.values())
        return completed

    def statistics(self) -> ControllerStatistics:
        """A consistent snapshot; cheap enough for a 100 ms trajectory or a Prometheus scrape."""
        now = self._clock()
        limit = self._limit.limit
        queue = self._queue
        return ControllerStatistics(
            limit=limit,
            inflight=self._tally.inflight,
            inflight_cost=self._tally.inflight + self._extra,
            queued=0 if queue is None else len(queue),
            oldest_age=0.0 if queue is None else queue.oldest_age(now),
            win_min=self.win_min(now),
            load=self.load(now),
            overloaded=self.overloaded(now),
            draining=self._draining,
            monitor_only=self.monitor_only,
            admitted=self._tally.admitted,
            enqueued=self._enqueued,
            completed=self._completions(),
            rejected=dict(self._rejected),
            rejected_by_criticality=dict(self._rejected_by_criticality),
            would_reject=dict(self._would_reject),
            abandoned=self._abandoned,
            partitions={name: p.inflight for name, p in self._partitions.items()},
            limit_statistics=self._limit.statistics(),
            queue_statistics=None if queue is None else queue.statistics(now, limit),
        )


Decision = Permit | Waiter | Rejection
"""What ``AdmissionController.acquire`` returns."""
