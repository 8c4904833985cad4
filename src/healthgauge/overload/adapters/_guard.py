"""The asyncio glue shared by both middlewares: one request's way through admission (spec §9).

:class:`OverloadGuard` drives the core's sans-I/O :class:`AdmissionController` as its package
docstring prescribes: a future per queued :class:`Waiter` (resolved by the controller's callback
when it grants, expires or rejects), the 10 ms expiry tick while anything waits, the loop-lag probe
added at handler start, each permit completed exactly once. It also owns the agent-check responder,
the drain-on-SIGTERM sequence and the adapter-side counters. The ASGI and aiohttp middlewares only
translate their request and response objects to :meth:`~OverloadGuard.enter` and
:meth:`~OverloadGuard.finish`, so they cannot disagree.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

from healthgauge.overload._controller import AdmissionController
from healthgauge.overload._http import Classified, RequestPolicy, Response, classify, rejection_response
from healthgauge.overload._load import AgentReport, AgentState, LoadReporter, weight_for_load
from healthgauge.overload._permit import Permit, Waiter
from healthgauge.overload._types import Outcome, Rejection
from healthgauge.overload.adapters._backlog import AcceptQueue
from healthgauge.overload.adapters._counters import GuardCounters
from healthgauge.overload.adapters._looplag import LoopLagProbe
from healthgauge.overload.adapters._responder import AgentCheckResponder, full_state_line
from healthgauge.overload.adapters._shutdown import DEFAULT_DEADLINE, DrainOnSignal

__all__ = ["Admission", "GuardCounters", "Metered", "OverloadGuard", "Queued", "RouteMemo"]

T = TypeVar("T")

log = logging.getLogger("healthgauge.overload")

# Active expiry tick while anything waits (spec §3 rule 3, HG: every 10 ms).
TICK = 0.01
# The worker's load on every 503 refusal, in agent-check words (the broker's contract, owners.md).
LOAD_HEADER = b"healthgauge-load"
# Handler metering (``run``): about METER_ALL handlers are timed per METER_SPAN of loop time,
# whatever the rate: every one while the loop starts fewer, else one in ``runs // METER_ALL`` of
# the last span (at most METER_MAX_STRIDE), its time counted that many times: an unbiased
# estimate of the loop's time in admitted handlers. METER_SPAN is the default limit's interval
# (``LoopDelayLimit.interval``, 100 ms): it reads the busy share only as sums over it, so timing
# more per 10-ms probe interval sharpens nothing it decides. Timing a handler costs ~3.4 µs of a
# ~40 µs trivial answer on a real httptools server (a generator per handler, a coroutine per
# message sent, four clock readings); METER_ALL per probe interval, as before, timed one answer
# in six at 11,000 a second (issue #11, sixth round). The stride is set at each probe from that
# probe interval's admissions, scaled to the span. A calm admission is picked by its number
# (``AdmissionController.enter_calm``), any other by the guard's own count (``metering``): each
# an unbiased sample of its own kind. A burst after a quiet interval (stride 1) would time every
# handler until the next probe (600 at 60,000 a second): after METER_ALL picks in a probe
# interval the stride doubles for the rest of it (``picked``), each pick weighted by the stride
# it was picked at.
METER_ALL = 16
METER_SPAN = 0.1
METER_MAX_STRIDE = 4096
NO_METERING = 1 << 62  # the stride of a guard without a loop probe: no count reaches it
# Paths whose verdict a RouteMemo remembers: a service's routes; paths with ids in them fill it,
# and the ones after are judged each time (~0.2 µs). ~100 KB at most.
ROUTES_MAX = 1024


class Admission:
    """A request's admission: ``response`` is set when it was rejected (send it, do not call the
    app); otherwise ``permit`` is to be finished exactly once (none for a bypass, or for a request
    that monitor-only mode let through past a rejection). ``classified`` is ``None`` for a request
    that carried none of the headers the policy reads (the policy's defaults apply). ``at``: the
    guard clock's reading when a refusal was decided (what answering it cost is timed from there)."""

    __slots__ = ("at", "classified", "permit", "response")

    def __init__(
        self, classified: Classified | None, permit: Permit | None, response: Response | None, at: float = 0.0
    ) -> None:
        self.classified = classified
        self.permit = permit
        self.response = response
        self.at = at

    @property
    def bypass(self) -> bool:
        """Run the app untouched: a bypass route, or monitor-only mode past a rejection."""
        return self.permit is None and self.response is None


_BYPASS = Admission(None, None, None)


class RouteMemo:
    """The routes a middleware's calm path may take: not a bypass route, not the metrics page it
    serves, and only once the guard has started (the first request starts it where no lifespan
    does). ``path in calm`` (a set lookup) first, then :meth:`judge` (the policy's three tests,
    ~0.2 µs), which remembers a calm path when the verdict depends on the path alone (no bypass
    methods or predicate), up to ``ROUTES_MAX`` paths."""

    __slots__ = ("_metrics_path", "_path_only", "_policy", "calm", "started")

    def __init__(self, policy: RequestPolicy, metrics_path: str | None) -> None:
        self.calm: set[str] = set()
        self.started = False
        self._policy = policy
        self._metrics_path = metrics_path
        self._path_only = not policy.bypass_methods and policy.bypass is None

    def judge(self, method: str, path: str) -> bool:
        """True: the request may take the calm path (nothing is counted here)."""
        if not self.started or path == self._metrics_path or self._policy.bypassed(method, path):
            return False
        if self._path_only and len(self.calm) < ROUTES_MAX:
            self.calm.add(path)
        return True


class Queued:
    """A request waiting in the controller's queue: pass it to :meth:`OverloadGuard.wait`."""

    __slots__ = ("classified", "waiter")

    def __init__(self, classified: Classified | None, waiter: Waiter) -> None:
        self.classified = classified
        self.waiter = waiter


class OverloadGuard:
    """Admission for one service (or one route group).

    ``controller`` defaults to ``AdmissionController()``, the policy the real-server benchmark
    (``bench/overload/real.py``) calls ``default``: ``LoopDelayLimit`` fed by this guard's loop
    probe and handler timing, without a wait queue, on ``time.monotonic`` (docs/overload.md; pass
    ``AdmissionController(queue=WaitQueue())`` for bursts and criticality-ordered waiting). The guard
    reads time from the controller's clock, so deadlines and receipts are on the same clock.

    ``registry``: the prometheus_client registry the guard's metrics join at :meth:`start`
    (``None``: the default registry, which the app's own ``/metrics`` serves; ``False``: none).

    ``agent_port`` (``None``: no responder; 0: any free port) starts the HAProxy agent-check
    responder at :meth:`start`; ``drain_grace`` (``None``: ``2 × agent_inter + 1`` s, 5 s) is the
    SIGTERM drain sequence's grace period and ``drain_deadline`` (``None``: 25 s) when the server
    is told to stop at once: the whole drain fits Kubernetes' default 30 s grace. ``monitor_only``
    never sheds: the default controller is built in monitor mode, and whatever a controller still rejects is counted in
    ``counters.would_shed`` and served without a permit.

    ``count_server_errors`` counts the admitted requests answered 5xx (``counters.server_errors``,
    the metric ``healthgauge_overload_server_errors_total``, exported only then). Off by default:
    the ASGI middleware must watch every message the app sends to see a status, ~3 % of a trivial
    answer on uvicorn (issue #11), for a figure the application's own metrics and access log
    already have; with it on, every admitted request is watched and the count is exact.
    """

    def __init__(
        self,
        controller: AdmissionController | None = None,
        *,
        policy: RequestPolicy | None = None,
        monitor_only: bool = False,
        agent_port: int | None = None,
        agent_host: str = "127.0.0.1",
        agent_inter: float = 2.0,
        agent_warmup: float = 10.0,
        reporter: LoadReporter | None = None,
        drain_grace: float | None = None,
        drain_deadline: float | None = None,
        handle_sigterm: bool = True,
        loop_lag: bool = True,
        cancel_at_deadline: bool = False,
        count_server_errors: bool = False,
        registry: Any = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        if controller is None:
            controller = AdmissionController(monitor_only=monitor_only)
        self.controller = controller
        self.clock = controller.clock
        self.policy = policy or RequestPolicy()
        self.monitor_only = monitor_only
        self.cancel_at_deadline = cancel_at_deadline
        self.count_server_errors = count_server_errors
        self.wall = wall
        self.counters = GuardCounters()
        self.busy = 0.0  # seconds spent inside admitted handlers since the last loop probe
        self.steps = 0  # and how many synchronous steps they took
        self.sending = 0.0  # of ``busy``, the seconds the server spent writing their answers
        self._admitted_at_probe = 0  # the controller's admissions at the last probe (``runs``)
        self._seq = 0  # handlers metering() was asked about (which of those ``run`` meters)
        # Meter one handler in this many (1 while the last probe interval saw few). Without the
        # loop probe nothing reads the handlers' time: a stride no count reaches meters none (it
        # metered every handler, ~5 us each: 0.81-0.84 of bare's goodput against the default's
        # 0.89 with 400 clients on aiohttp, issue #11).
        self.stride = 1 if loop_lag else NO_METERING
        self._picks = 0  # handlers picked for metering since the last probe or doubling
        # What answering a refusal costs the loop, as measured (EWMA, seconds; for the metrics).
        self.reject_cost = 0.0
        self.load_words = b""
        # Whether a probe ran since ``load_words`` was built: they are rebuilt lazily, by the
        # first refusal after it (~12 µs, every 10 ms while nothing is refused: issue #11).
        self._load_stale = False
        # The refusals with ``load_words`` added, by id of the plain refusal (rebuilt when the words change).
        self._loaded: dict[int, tuple[Response, Response]] = {}
        self.probe = LoopLagProbe(on_sample=self._on_lag) if loop_lag else None
        # Probe intervals per metering span: the stride is scaled from one to the other.
        self._span_probes = max(1, round(METER_SPAN / self.probe.interval)) if self.probe is not None else 1
        # The kernel's accept queue, read with each probe sample (where uvloop's excess waits).
        self.accept_queue = AcceptQueue() if loop_lag else None
        # Read with every probe sample only where the limit judges it (``LoopDelayLimit``'s opt-in
        # ``min_queue_growth``); else once per metering span, the reading reported in between
        # (~60 µs a read on a busy 2-core host: half of a probe sample's cost, issue #11).
        judged = getattr(controller.limit, "min_queue_growth", None) is not None
        self._queue_every = 1 if judged else self._span_probes
        self._queue_due = 0  # probe samples until the next read
        self._queued: int | None = None
        self.reporter = reporter or LoadReporter(warmup=agent_warmup, clock=self.clock)
        self.agent_port, self.agent_host = agent_port, agent_host
        self.responder: AgentCheckResponder | None = None
        # Two agent checks see the drain; all of it fits Kubernetes' default 30 s grace (issue #11).
        self.drain_grace = 2 * agent_inter + 1.0 if drain_grace is None else drain_grace
        self.drain_deadline = max(DEFAULT_DEADLINE, self.drain_grace) if drain_deadline is None else drain_deadline
        self.handle_sigterm = handle_sigterm
        # The server's own shutdown, when the loop holds its SIGTERM handler (DrainOnSignal).
        self.on_shutdown: Callable[[], None] | None = None
        self._drain: DrainOnSignal | None = None
        self._tick: asyncio.TimerHandle | None = None
        self.registry = registry
        self._collector: Any = None
        self.refresh_load()

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the probe, the responder and the SIGTERM drain on the running loop, and put the
        metrics in the registry."""
        self.reporter.started_at = self.clock()
        if self.registry is not False and self._collector is None:
            from healthgauge.overload.adapters._metrics import register

            try:
                self._collector = register(self, self.registry)
            except ValueError as exc:
                log.warning("%s: serving without them", exc)
        if self.probe is not None:
            self.probe.start()
        if self.agent_port is not None and self.responder is None:
            self.responder = AgentCheckResponder(
                self.agent_report,
                host=self.agent_host,
                port=self.agent_port,
                fallback_weight=self.reporter.weight_floor,
            )
            await self.responder.start()
            if self.accept_queue is not None:
                self.accept_queue.exclude(self.responder.port)
        if self.handle_sigterm and self._drain is None:
            drain = DrainOnSignal(
                grace=self.drain_grace,
                deadline=self.drain_deadline,
                on_drain=self.reporter.drain,
                on_forward=self.controller.set_draining,
                on_shutdown=self.on_shutdown,
            )
            try:
                drain.install()
                self._drain = drain
            except (RuntimeError, ValueError, NotImplementedError) as exc:  # not the main thread
                log.warning("cannot take SIGTERM here (%s): no drain sequence", exc)

    async def stop(self) -> None:
        """Stop everything :meth:`start` started; the responder goes last (it answers ``drain``)."""
        if self._drain is not None:
            self._drain.uninstall()
            self._drain = None
        if self.probe is not None:
            self.probe.stop()
        if self._collector is not None:
            self._collector.registry.unregister(self._collector)
            self._collector = None
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        if self.responder is not None:
            await self.responder.close()
            self.responder = None

    @property
    def draining(self) -> bool:
        return (self._drain is not None and self._drain.draining) or self.controller.draining

    def agent_report(self) -> AgentReport:
        """What the agent-check line reports now: the controller's load and limit through the reporter."""
        return self.reporter.report(self.controller.load(), self.controller.limit.limit)

    # -- one request ----------------------------------------------------------------------------

    async def enter(self, method: str, path: str, get: Callable[[str], str | None]) -> Admission:
        """Classify and admit one request, waiting in the queue if the controller says so."""
        admission = self.admit(method, path, get)
        if isinstance(admission, Queued):
            return await self.wait(admission)
        return admission

    @property
    def runs(self) -> int:
        """Requests admitted since the last loop probe (what the metering stride is made of)."""
        return self.controller.admitted - self._admitted_at_probe

    def enter_fast(self, method: str, path: str) -> Admission | Queued | None:
        """:meth:`admit` for a request that carries none of the policy's headers (the adapters'
        per-request path), except that the common request, admitted and started at once by
        ``AdmissionController.enter`` (one clock reading), gets no permit object: ``None`` says
        so, and :meth:`leave` completes it, exactly once. Any other gets what :meth:`admit`
        returns."""
        policy = self.policy
        if policy.bypassed(method, path):
            self.counters.bypassed += 1
            return _BYPASS
        now = self.clock()
        probe = self.probe
        controller = self.controller
        criticality = policy.default_criticality
        entered = controller.enter(now, 0.0 if probe is None else probe.current(now), criticality)
        if entered is True:
            return None
        if entered is False:
            decision = controller.acquire(criticality=criticality, deadline=now + policy.default_timeout, now=now)
            return self._decided(None, decision, now)
        return self._reject(None, entered, now)

    def leave(self, outcome: Outcome, *, status: int | None = None) -> None:
        """Complete a request :meth:`enter_fast` admitted without a permit, counting a 5xx ``status``
        (with ``count_server_errors``)."""
        if status is not None and status >= 500 and self.count_server_errors:
            self.counters.server_errors += 1
        self.controller.leave(outcome._value_)

    def admit(self, method: str, path: str, get: Callable[[str], str | None] | None) -> Admission | Queued:
        """:meth:`enter` without the wait: an :class:`Admission`, or a :class:`Queued` to pass to
        :meth:`wait` (no coroutine unless a request queues). ``get=None`` says the request carries
        none of the policy's headers (``policy.header_keys``; the adapters scan for them): the
        defaults apply and nothing is parsed."""
        policy = self.policy
        if policy.bypassed(method, path):
            self.counters.bypassed += 1
            return _BYPASS
        c: Classified | None = None
        now = self.clock()
        if get is None:
            decision = self.controller.acquire(
                criticality=policy.default_criticality, deadline=now + policy.default_timeout, now=now
            )
        else:
            wall_now = self.wall() if policy.request_start_header is not None else 0.0
            c = classify(get, policy=policy, now=now, wall_now=wall_now)
            if c.errors:
                self.counters.header_errors += len(c.errors)
                log.debug("bad request headers: %s", "; ".join(map(str, c.errors)))
            decision = self.controller.acquire(
                criticality=c.criticality, deadline=c.deadline, received_at=c.receipt, cost=c.cost, now=now
            )
        return self._decided(c, decision, now)

    def _decided(self, c: Classified | None, decision: Permit | Waiter | Rejection, now: float) -> Admission | Queued:
        if isinstance(decision, Permit):
            return self._started(c, decision, now)
        if isinstance(decision, Waiter):
            return Queued(c, decision)
        return self._reject(c, decision, now)

    async def wait(self, queued: Queued) -> Admission:
        """Wait for a queued request's grant, expiry or rejection."""
        waited = await self._wait(queued.waiter)
        if waited.rejection is not None or waited.permit is None:
            return self._reject(queued.classified, waited.rejection, self.clock())
        return self._started(queued.classified, waited.permit)

    def _started(self, c: Classified | None, permit: Permit, now: float | None = None) -> Admission:
        """Start an admitted request (``now``: the clock's reading when the caller has one: a
        permit granted from the queue starts later than it arrived)."""
        if now is None:
            now = self.clock()
        lag = self.probe.current(now) if self.probe is not None else 0.0
        shed = permit.start(extra_delay=lag, now=now)
        if shed is not None:  # sloughed at handler start; the permit is already released
            return self._reject(c, shed, now)
        return Admission(c, permit, None)

    def finish(self, admission: Admission, outcome: Outcome, *, status: int | None = None) -> None:
        """Complete ``admission``'s permit (a second call does nothing: exactly once)."""
        self.complete(admission.permit, outcome, status=status)

    def complete(self, permit: Permit | None, outcome: Outcome, *, status: int | None = None) -> None:
        """Complete ``permit`` (if any, and not yet: exactly once), counting a 5xx ``status`` (with
        ``count_server_errors``)."""
        if status is not None and status >= 500 and self.count_server_errors:
            self.counters.server_errors += 1
        if permit is not None and not permit.done:
            permit.complete(outcome)

    def settle(self, permit: Permit | None, outcome: Outcome, *, status: int | None = None) -> None:
        """Complete a request an adapter ran: its ``permit``, or (``None``) one that
        :meth:`enter_fast` admitted without one."""
        if permit is None:
            self.leave(outcome, status=status)
        else:
            self.complete(permit, outcome, status=status)

    def time_left(self, permit: Permit | None, c: Classified | None) -> float | None:
        """Seconds until the request's deadline when the handler is to be cancelled at it (else
        ``None``): of a permit and its request's headers (``c``: ``None`` when none were read),
        or (``permit`` ``None``) of a request :meth:`enter_fast` admitted just now: received now,
        with the default timeout."""
        if not self.cancel_at_deadline:
            return None
        if permit is None:
            return self.policy.default_timeout
        deadline = permit.received_at + self.policy.default_timeout if c is None else c.deadline
        return deadline - self.clock()

    def downstream_response(self, no_retry: bool) -> Response:
        """The 503 for a handler that raised ``DownstreamOverloaded`` before answering."""
        self.counters.downstream_overloaded += 1
        return self._with_load(rejection_response("downstream", retry_after=None, no_retry=no_retry))

    def note_reject(self, seconds: float) -> None:
        """The adapter measured what one refusal cost, from request to answer sent (or returned)."""
        self.reject_cost = seconds if self.reject_cost == 0 else self.reject_cost + 0.1 * (seconds - self.reject_cost)

    def run(self, work: Awaitable[T]) -> Awaitable[T]:
        """Await ``work`` (the admitted handler) timing each of its synchronous steps into
        :attr:`busy`: the share of the loop our admitted work takes (``LoopDelayLimit``). An
        awaitable that is not a coroutine runs untimed. Sampled (``METER_ALL``): an unmetered
        handler is ``work`` itself, at no cost."""
        weight = self.metering()
        if weight and isinstance(work, Coroutine):
            return Metered(work, self, weight)
        return work

    def metering(self) -> int:
        """Count a handler's start; the weight to meter it with (``Metered``), 0 for not at all.
        (A calm admission needs no call: its number picks it, ``AdmissionController.enter_calm``.)"""
        seq = self._seq = self._seq + 1
        return 0 if seq % self.stride else self.picked(seq)

    def picked(self, seq: int) -> int:
        """Handler number ``seq``, a multiple of ``stride``, is picked for metering: its weight,
        the stride it was picked at. From the METER_ALL-th pick since the probe on, the stride
        doubles (comment at METER_ALL), at a pick whose number is a multiple of the new one: the
        next pick is then a whole new stride later, and the weights add up to the handlers."""
        stride = self.stride
        self._picks += 1
        if self._picks >= METER_ALL and 2 * stride <= METER_MAX_STRIDE and not seq % (2 * stride):
            self.stride = 2 * stride
            self._picks = 0
        return stride

    # -- internals ------------------------------------------------------------------------------

    def _on_lag(self, lag: float) -> None:
        # What refusing the handlers that ran would have saved: their time, less writing their
        # answers (a 503 is written too; with h11 that is most of a small handler's time).
        saved = max(0.0, self.busy - self.sending)
        steps = self.steps
        self.stride = min(METER_MAX_STRIDE, max(1, self.runs * self._span_probes // METER_ALL))
        self._picks = 0
        self._admitted_at_probe = self.controller.admitted
        self.busy, self.steps, self.sending = 0.0, 0, 0.0
        self.controller.observe_loop(lag, saved, steps, self._accept_queue())
        self._load_stale = True  # the words are rebuilt when a refusal next needs them

    def _accept_queue(self) -> int | None:
        """The kernel's accept queue for this probe sample: read now, or the last reading."""
        if self.accept_queue is None:
            return None
        if self._queue_due <= 0:
            self._queue_due = self._queue_every
            self._queued = self.accept_queue.read(self.clock())
        self._queue_due -= 1
        return self._queued

    def _reject(self, c: Classified | None, rejection: Rejection | None, now: float = 0.0) -> Admission:
        reason = rejection.reason.value if rejection is not None else "expired"
        if self.monitor_only:
            # Monitor-only never sheds, whatever the controller decided: count it, serve unpermitted.
            self.counters.would_shed[reason] = self.counters.would_shed.get(reason, 0) + 1
            return Admission(c, None, None)
        retry_after = rejection.retry_after if rejection is not None else None
        no_retry = c is not None and c.is_retry
        return Admission(
            c, None, self._with_load(rejection_response(reason, retry_after=retry_after, no_retry=no_retry)), now
        )

    def _with_load(self, response: Response) -> Response:
        """Every 503 refusal tells the caller (the broker) this worker's load: ``Healthgauge-Load``.
        Built once per refusal kind and load (the words change at most once per probe)."""
        if response.status != 503:
            return response
        if self._load_stale:
            self.refresh_load()
        hit = self._loaded.get(id(response))
        if hit is not None and hit[0] is response:
            return hit[1]
        loaded = Response(response.status, (*response.headers, (LOAD_HEADER, self.load_words)), response.body)
        if len(self._loaded) >= 64:  # a few (status, Retry-After, no-retry) kinds; bounded all the same
            self._loaded.clear()
        self._loaded[id(response)] = (response, loaded)
        return loaded

    def refresh_load(self) -> bytes:
        """Recompute :attr:`load_words` (the first refusal after each loop probe does): agent-check words,
        ``up ready 63% maxconn:12 inflight:3`` (weight = 100 − load, at least the floor; the
        current limit; the in-flight cost, rounded up), ``up drain ...`` while draining: the one
        agent-check codec writes the line (through ``full_state_line``); ``inflight:N`` is the
        broker's extra word (owners.md contract), which HAProxy never sees."""
        ctl = self.controller
        limit = ctl.limit.limit
        report = AgentReport(
            weight=weight_for_load(ctl.load(), self.reporter.weight_floor),
            maxconn=max(1, int(limit)) if math.isfinite(limit) else None,
            state=AgentState.DRAIN if self.draining else AgentState.READY,
            load=0,
        )
        line = full_state_line(report, report).rstrip(b"\n")
        words = line + b" inflight:%d" % math.ceil(ctl.inflight_cost)
        self._load_stale = False
        if words != self.load_words:
            self.load_words = words
            self._loaded.clear()
        return words

    async def _wait(self, waiter: Waiter) -> Waiter:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def resolved(_: Waiter) -> None:
            # Runs synchronously inside the controller call that decided: resolve, nothing more.
            if not future.done():
                future.set_result(None)

        waiter.add_done_callback(resolved)
        self._arm()
        try:
            await future
        except asyncio.CancelledError:
            waiter.cancel()  # leaves the queue, or releases a permit granted in the same instant
            raise
        return waiter

    def _arm(self) -> None:
        queue = self.controller.queue
        if self._tick is None and queue is not None and len(queue):
            self._tick = asyncio.get_running_loop().call_later(TICK, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        self.controller.tick()
        self._arm()


class Metered(Generic[T]):
    """An awaitable that runs a coroutine step by step, adding the wall time of each step (the
    loop is single-threaded: that is the step's CPU, give or take preemption) to ``guard.busy``,
    ``weight`` times (a sampled handler stands for ``weight`` handlers: ``OverloadGuard.run``).
    Costs two ``perf_counter()`` calls per step; cancellation and exceptions pass through."""

    __slots__ = ("_coro", "_guard", "_weight")

    def __init__(self, coro: Coroutine[Any, Any, T], guard: OverloadGuard, weight: int = 1) -> None:
        self._coro = coro
        self._guard = guard
        self._weight = weight

    def __await__(self) -> Generator[Any, Any, T]:
        coro, guard, clock, weight = self._coro, self._guard, time.perf_counter, self._weight
        method: Callable[[Any], Any] = coro.send
        arg: Any = None
        while True:
            guard.steps += weight
            t = clock()
            try:
                yielded = method(arg)
            except StopIteration as stop:
                guard.busy += (clock() - t) * weight
                result: T = stop.value
                return result
            except BaseException:
                guard.busy += (clock() - t) * weight
                raise
            guard.busy += (clock() - t) * weight
            try:
                arg = yield yielded
                method = coro.send
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                method, arg = coro.throw, exc
