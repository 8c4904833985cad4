"""The discrete-event server model of spec §11.2-11.3, driving healthgauge's real objects.

A heap of events under a virtual clock (``SimClock``): open-loop arrivals by
thinning, 8 workers behind a run queue, lognormal CPU demand (mean 10 ms, CV 1), an optional I/O
stage that holds a permit but no worker, optional contention, client deadlines, retries with
jittered backoff issued at the deadline, and an optional client throttle. The policy under test
decides through ``AdmissionController.acquire``, ``Permit.start`` and the permit's completion,
exactly as the middleware does; nothing here copies an algorithm.

Randomness: one ``random.Random`` per purpose, seeded from ``(seed, name)``, so every policy sees
the same arrivals and the same first-attempt demands (common random numbers).
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from healthgauge.overload import (
    Criticality,
    LoadReporter,
    Permit,
    QueueEntry,
    Rejection,
    RejectReason,
    Waiter,
    retry_backoff,
)
from overload_sim.policies import Policy
from overload_sim.scenarios import (
    CAPACITY_RPS,
    CONTENTION_K,
    CONTENTION_N0,
    MEAN_SERVICE,
    WORKERS,
    Scenario,
)

PENDING, OK, LATE, REJECTED, DROPPED, EXPIRED, THROTTLED = range(-1, 6)
OUTCOME_NAMES = ("ok", "late", "rejected", "dropped", "expired", "client_throttled")
SHED_OUTCOMES = frozenset((REJECTED, DROPPED, EXPIRED, THROTTLED))
# How a rejection counts (spec §11.6): refused on arrival is "rejected"; a queued request that timed
# out or whose deadline passed while it waited is "expired".
# Keyed by the reason's value: hashing a str is ~0.4 µs cheaper than hashing an Enum member.
REJECTION_OUTCOMES = {
    RejectReason.LIMIT.value: (REJECTED, "limit"),
    RejectReason.QUEUE_FULL.value: (REJECTED, "queue_full"),
    RejectReason.PRIORITY.value: (REJECTED, "priority"),
    RejectReason.DRAINING.value: (REJECTED, "limit"),
    RejectReason.EXPIRED.value: (EXPIRED, "expired"),
    RejectReason.DEADLINE.value: (EXPIRED, "expired"),
}

_ARRIVAL, RETRY, CPU_DONE, IO_DONE, _TIMEOUT, TICK, SAMPLE = range(7)

CRITICAL = Criticality.CRITICAL
SIGMA = math.sqrt(math.log(2.0))  # CV = 1: σ² = ln(1 + CV²)
MU = math.log(MEAN_SERVICE) - SIGMA * SIGMA / 2
TICK_INTERVAL = 0.010  # the host's expiry tick (spec §3 rule 3)
SAMPLE_INTERVAL = 0.100  # one trajectory row per 100 ms (spec §11.6)
DRAIN_CAP = 300.0  # after the scenario ends, simulate at most this long for the backlog to drain

TRAJECTORY_COLUMNS = (
    "t",
    "limit",
    "inflight",
    "queued",
    "oldest_age_ms",
    "win_min_ms",
    "load",
    "weight",
    "rejected_limit",
    "rejected_queue_full",
    "rejected_priority",
    "expired",
    "dropped",
    "client_throttled",
    "ok",
    "late",
)


class SimClock:
    """The virtual clock: the production objects call it; the event loop sets ``now``.

    Not ``healthgauge.testing.FakeClock``, whose ``set`` checks monotonicity on every call: the
    event loop is monotonic by construction and sets the time ~300,000 times per run.
    """

    __slots__ = ("now",)

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Attempt(QueueEntry):
    """One attempt of one request; a queue entry so the anchors' run queue can hold it."""

    __slots__ = ("arrival", "demand", "failed", "index", "io", "permit", "slot")

    def __init__(self, arrival: float, deadline: float, demand: float, io: float, index: int, slot: int) -> None:
        # QueueEntry's fields, set inline: a hundred thousand attempts per run.
        self.criticality = CRITICAL
        self.deadline = deadline
        self.max_wait = None
        self.enqueued_at = 0.0
        self.queued = False
        self.reason = None
        self.arrival = arrival
        self.demand = demand
        self.io = io
        self.index = index
        self.slot = slot
        self.permit: Permit | None = None
        self.failed = False


@dataclass(slots=True)
class RunData:
    """What one run leaves behind: per-attempt arrays and the trajectory rows."""

    arrivals: list[float]
    outcomes: list[int]
    latencies: list[float]
    trajectory: list[tuple[float, ...]]
    events: int


def numpy_stream(seed: int, name: str) -> np.random.Generator:
    """A numpy generator for one purpose, seeded from (seed, name) (stable across runs and hosts)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


def _pool(generator: np.random.Generator, draw: Callable[[np.random.Generator, int], np.ndarray]) -> Iterator[float]:
    """An endless stream of draws, made 65,536 at a time (numpy is fast in bulk, slow one by one)."""
    while True:
        yield from draw(generator, 65_536).tolist()


def streams(seed: int) -> dict[str, random.Random]:
    names = ("backoff", "policy", "throttle")
    return {name: random.Random(f"{seed}:{name}") for name in names}


class Simulation:
    """One (scenario, policy, seed) run."""

    def __init__(self, scenario: Scenario, policy: Policy, seed: int, *, trajectory: bool = True) -> None:
        self.scenario = scenario
        self.policy = policy
        self.clock = SimClock()
        self.seed = seed
        self.rng = streams(seed)
        self.retry_demands = _pool(numpy_stream(seed, "retry-service"), lambda g, n: g.lognormal(MU, SIGMA, n))
        self.retry_io = _pool(numpy_stream(seed, "retry-io"), lambda g, n: g.exponential(1.0, n))
        built = policy.build(self.clock, self.rng["policy"], self.rng["throttle"])
        self.ctl = built.controller
        self.run_queue = built.run_queue
        self.fifo: deque[Attempt] = deque()
        self.throttle = built.throttle
        self.reporter = LoadReporter(warmup=0, clock=self.clock)
        self.want_trajectory = trajectory
        self.heap: list[tuple[float, int, int, object]] = []
        self.seq = itertools.count()
        self.idle = WORKERS
        self.lam_max = scenario.max_load * CAPACITY_RPS
        self.arrivals: list[float] = []
        self.outcomes: list[int] = []
        self.latencies: list[float] = []
        self.trajectory: list[tuple[float, ...]] = []
        self.counts = dict.fromkeys(
            ("ok", "late", "limit", "queue_full", "priority", "expired", "dropped", "throttled"), 0
        )
        self.timeouts = scenario.retries > 0 or self.throttle is not None
        self.deadline = scenario.deadline
        self.backoff_rng = self.rng["backoff"]
        self.acquire = self.ctl.acquire
        self.deadlines: deque[Attempt] = deque()

    # -- scheduling ------------------------------------------------------------------------------

    def push(self, when: float, kind: int, obj: object = None) -> None:
        heapq.heappush(self.heap, (when, next(self.seq), kind, obj))

    def first_attempts(self) -> tuple[list[float], list[float], list[float]]:
        """Every request's arrival time, CPU demand and I/O time, drawn up front with numpy.

        Arrivals by thinning (spec §11.3): candidate gaps ~ Exp(λ_max), each kept with probability
        load(t) / max load. Demands and I/O come from their own streams in arrival order, so they
        are the same for every policy (common random numbers).
        """
        scenario = self.scenario
        arrivals_rng = numpy_stream(self.seed, "arrivals")
        count = int(self.lam_max * scenario.duration * 1.2) + 100
        candidates = np.cumsum(arrivals_rng.exponential(1.0 / self.lam_max, count))
        while candidates[-1] < scenario.duration:  # never in practice: 20 % spare is > 40 sigma
            more = np.cumsum(arrivals_rng.exponential(1.0 / self.lam_max, count)) + candidates[-1]
            candidates = np.concatenate((candidates, more))
        candidates = candidates[candidates < scenario.duration]
        keep = arrivals_rng.random(len(candidates)) * scenario.max_load
        load = scenario.load
        times = [t for t, u in zip(candidates.tolist(), keep.tolist(), strict=True) if u < load(t)]
        demands = numpy_stream(self.seed, "service").lognormal(MU, SIGMA, len(times)).tolist()
        io_of = scenario.io
        means = [io_of(t) for t in times]
        unit = numpy_stream(self.seed, "io").exponential(1.0, len(times)).tolist()
        ios = [m * e for m, e in zip(means, unit, strict=True)]
        return times, demands, ios

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> RunData:
        scenario = self.scenario
        times, demands, ios = self.first_attempts()
        if self.ctl.queue is not None or self.run_queue is not None:
            self.push(TICK_INTERVAL, TICK)
        if self.want_trajectory:
            self.push(0.0, SAMPLE)
        handlers = (
            None,
            self.on_retry,
            self.on_cpu_done,
            self.on_io_done,
            self.on_timeout,
            self.on_tick,
            self.on_sample,
        )
        heap = self.heap
        clock = self.clock
        send = self.send
        pop = heapq.heappop
        stop = scenario.duration + DRAIN_CAP
        events = 0
        count = len(times)
        i = 0
        inf = math.inf
        next_arrival = times[0] if count else inf
        deadlines = self.deadlines
        on_timeout = self.on_timeout
        outcomes = self.outcomes
        while True:
            next_event = heap[0][0] if heap else inf
            next_deadline = deadlines[0].deadline if deadlines else inf
            if next_deadline <= next_event and next_deadline <= next_arrival:
                if next_deadline == inf:
                    break
                job = deadlines.popleft()
                if not job.failed and outcomes[job.slot] == PENDING:
                    clock.now = next_deadline
                    on_timeout(next_deadline, job)
            elif next_event <= next_arrival:
                t, _, kind, obj = pop(heap)
                if t > stop:
                    break
                clock.now = t
                handlers[kind](t, obj)  # type: ignore[misc]
            else:
                t = next_arrival
                clock.now = t
                send(t, 0, demands[i], ios[i])
                i += 1
                next_arrival = times[i] if i < count else inf
            events += 1
        self.finish_pending(stop)
        return RunData(self.arrivals, self.outcomes, self.latencies, self.trajectory, events)

    def finish_pending(self, stop: float) -> None:
        """Attempts still unfinished when the simulation stops completed, at best, at ``stop``: late."""
        for slot, outcome in enumerate(self.outcomes):
            if outcome == PENDING:
                self.outcomes[slot] = LATE
                self.latencies[slot] = stop - self.arrivals[slot]

    # -- events ----------------------------------------------------------------------------------

    def on_retry(self, t: float, index: object) -> None:
        assert isinstance(index, int)
        demand = next(self.retry_demands)
        mean_io = self.scenario.io(t)
        io = mean_io * next(self.retry_io) if mean_io > 0 else 0.0
        self.send(t, index, demand, io)

    def send(self, t: float, index: int, demand: float, io: float) -> None:
        """One attempt reaches the client throttle, then the policy (the hot path of the run)."""
        arrivals = self.arrivals
        slot = len(arrivals)
        arrivals.append(t)
        self.outcomes.append(PENDING)
        self.latencies.append(0.0)
        if self.throttle is not None and not self.throttle.allow():
            self.refused(slot, index, t, THROTTLED, "throttled", record=False)
            return
        deadline = t + self.deadline
        decision = self.acquire(deadline=deadline, received_at=t)
        kind = type(decision)
        if kind is Rejection:
            # Most attempts under overload end here: no Attempt object, no deadline to watch.
            outcome, counter = REJECTION_OUTCOMES[decision.reason._value_]  # type: ignore[union-attr]
            self.refused(slot, index, t, outcome, counter)
            return
        job = Attempt(t, deadline, demand, io, index, slot)
        if self.timeouts:
            self.deadlines.append(job)  # deadlines rise with send time: a FIFO, not heap events
        if kind is Permit:
            job.permit = decision  # type: ignore[assignment]
            if self.run_queue is None:
                self.fifo.append(job)
            else:
                self.admitted(job, decision, t)  # type: ignore[arg-type]
        else:
            decision.add_done_callback(lambda waiter, job=job: self.resolved(job, waiter))  # type: ignore[union-attr]
        if self.idle:
            self.dispatch(t)

    def refused(self, slot: int, index: int, t: float, outcome: int, counter: str, *, record: bool = True) -> None:
        """An attempt refused on arrival (by the throttle or the policy) fails at once."""
        self.outcomes[slot] = outcome
        self.counts[counter] += 1
        self.retry_after_failure(index, t, record=record)

    def resolved(self, job: Attempt, waiter: Waiter) -> None:
        t = self.clock.now
        if waiter.permit is not None:
            self.admitted(job, waiter.permit, t)
        else:
            assert waiter.rejection is not None
            self.rejected(job, waiter.rejection, t)

    def admitted(self, job: Attempt, permit: Permit, t: float) -> None:
        job.permit = permit
        run_queue = self.run_queue
        if run_queue is None:
            self.fifo.append(job)
            return
        removed = run_queue.push(job, t)
        for entry in removed:
            self.run_queue_removed(entry, t)

    def run_queue_removed(self, entry: QueueEntry, t: float) -> None:
        assert isinstance(entry, Attempt)
        assert entry.permit is not None
        entry.permit.ignore()  # it never ran: no sample
        if entry.reason is RejectReason.QUEUE_FULL:
            self.shed(entry, t, REJECTED, "queue_full")
        elif entry.reason is RejectReason.PRIORITY:
            self.shed(entry, t, REJECTED, "priority")
        else:
            self.shed(entry, t, EXPIRED, "expired")

    def rejected(self, job: Attempt, rejection: Rejection, t: float) -> None:
        outcome, counter = REJECTION_OUTCOMES[rejection.reason._value_]
        self.shed(job, t, outcome, counter)

    def shed(self, job: Attempt, t: float, outcome: int, counter: str, *, record: bool = True) -> None:
        self.outcomes[job.slot] = outcome
        self.counts[counter] += 1
        if not job.failed:
            self.fail(job, t, record=record)

    def fail(self, job: Attempt, t: float, *, record: bool = True) -> None:
        """The client learns that this attempt failed at ``t``; it may retry (spec §11.3)."""
        job.failed = True
        self.retry_after_failure(job.index, t, record=record)

    def retry_after_failure(self, index: int, t: float, *, record: bool) -> None:
        if record and self.throttle is not None:
            self.throttle.record(False)
        if index < self.scenario.retries:
            when = t + retry_backoff(index, self.backoff_rng)
            if when < self.scenario.duration:
                self.push(when, RETRY, index + 1)

    def dispatch(self, t: float) -> None:
        """Idle workers take work: the policy may drop it at dequeue, else its CPU stage starts."""
        run_queue = self.run_queue
        fifo = self.fifo
        ctl = self.ctl
        while self.idle:
            if run_queue is None:
                if not fifo:
                    return
                job = fifo.popleft()
            else:
                entry, removed = run_queue.pop(t)
                for gone in removed:
                    self.run_queue_removed(gone, t)
                if entry is None:
                    return
                assert isinstance(entry, Attempt)
                job = entry
            permit = job.permit
            assert permit is not None
            if permit.start() is not None:
                self.shed(job, t, DROPPED, "dropped")
                continue
            demand = job.demand
            if self.scenario.contention:
                queue = ctl.queue
                n = ctl.inflight + (0 if queue is None else len(queue))
                if n > CONTENTION_N0:
                    demand *= 1.0 + CONTENTION_K * (n - CONTENTION_N0)
            self.idle -= 1
            self.push(t + demand, CPU_DONE, job)

    def on_cpu_done(self, t: float, job: object) -> None:
        assert isinstance(job, Attempt)
        self.idle += 1
        if job.io > 0:
            self.push(t + job.io, IO_DONE, job)
        else:
            self.complete(job, t)
        self.dispatch(t)

    def on_io_done(self, t: float, job: object) -> None:
        assert isinstance(job, Attempt)
        self.complete(job, t)
        self.dispatch(t)

    def complete(self, job: Attempt, t: float) -> None:
        latency = t - job.arrival
        ok = latency <= self.scenario.deadline
        self.outcomes[job.slot] = OK if ok else LATE
        self.latencies[job.slot] = latency
        self.counts["ok" if ok else "late"] += 1
        if self.throttle is not None and not job.failed:
            self.throttle.record(ok)
        assert job.permit is not None
        job.permit.success()  # the server cannot tell late from on time

    def on_timeout(self, t: float, job: object) -> None:
        assert isinstance(job, Attempt)
        if self.outcomes[job.slot] == PENDING and not job.failed:
            self.fail(job, t)  # the client gives up at its deadline; the server carries on

    def on_tick(self, t: float, _: object) -> None:
        self.ctl.tick()
        if self.run_queue is not None:
            for gone in self.run_queue.expire(t):
                self.run_queue_removed(gone, t)
        self.dispatch(t)
        if t < self.scenario.duration + 5:
            self.push(t + TICK_INTERVAL, TICK)

    def on_sample(self, t: float, _: object) -> None:
        ctl = self.ctl
        limit = ctl.limit.limit
        queued = len(self.fifo)
        oldest = ctl.queue.oldest_age(t) if ctl.queue is not None else 0.0
        if ctl.queue is not None:
            queued += len(ctl.queue)
        if self.run_queue is not None:
            queued += len(self.run_queue)
            oldest = max(oldest, self.run_queue.oldest_age(t))
        load = ctl.load(t)
        weight = self.reporter.report(load, limit).weight
        c = self.counts
        self.trajectory.append(
            (
                t,
                limit,
                ctl.inflight,
                queued,
                oldest * 1000,
                ctl.win_min(t) * 1000,
                load,
                -1 if weight is None else weight,
                c["limit"],
                c["queue_full"],
                c["priority"],
                c["expired"],
                c["dropped"],
                c["throttled"],
                c["ok"],
                c["late"],
            )
        )
        if t + SAMPLE_INTERVAL < self.scenario.duration:
            self.push(t + SAMPLE_INTERVAL, SAMPLE)
