"""The asyncio glue shared by both middlewares: one request's way through admission (spec §9).

:class:`OverloadGuard` owns the asyncio side of an :class:`AdmissionCore`: a future per waiting
request (resolved when the core grants, expires or rejects it), the periodic expiry tick, the
loop-lag probe, the agent-check responder, the drain-on-SIGTERM sequence and the counters. The
ASGI and aiohttp middlewares only translate their request and response objects to
:meth:`~OverloadGuard.enter` and :meth:`~OverloadGuard.finish`, so they cannot disagree.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from healthgauge.overload._agentline import AgentLine
from healthgauge.overload._contract import AdmissionCore, DownstreamOverloaded, Outcome, State, Ticket
from healthgauge.overload._http import (
    Classified,
    RequestPolicy,
    Response,
    RetryAfterPolicy,
    classify,
    rejection_response,
)
from healthgauge.overload._looplag import LoopLagProbe
from healthgauge.overload._responder import AgentCheckResponder
from healthgauge.overload._shutdown import DrainOnSignal
from healthgauge.overload._static import StaticLimit

__all__ = ["Admission", "DownstreamOverloaded", "GuardCounters", "OverloadGuard"]

log = logging.getLogger("healthgauge.overload")

# Active expiry tick while anything waits (spec §3 rule 3, HG: every 10 ms).
TICK = 0.01


@dataclass(slots=True)
class GuardCounters:
    """Monotonic counters exported as metrics (spec §9)."""

    admitted: int = 0
    bypassed: int = 0
    server_errors: int = 0
    header_errors: int = 0
    shed: dict[tuple[str, str], int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=lambda: {o.value: 0 for o in Outcome})
    would_shed: dict[str, int] = field(default_factory=dict)


class Admission:
    """A request's admission: ``response`` is set when it was rejected (send it, do not call the
    app); otherwise ``ticket`` holds a permit to finish exactly once (``bypass`` has none)."""

    __slots__ = ("classified", "done", "response", "ticket")

    def __init__(self, classified: Classified | None, ticket: Ticket | None, response: Response | None) -> None:
        self.classified = classified
        self.ticket = ticket
        self.response = response
        self.done = False

    @property
    def bypass(self) -> bool:
        return self.ticket is None and self.response is None


_BYPASS = Admission(None, None, None)


def _granted(ticket: Ticket) -> bool:
    # A function, not an inline test: the core changes the state behind mypy's narrowing.
    return ticket.state is State.GRANTED


class OverloadGuard:
    """Admission for one service. ``core`` defaults to :class:`StaticLimit` (see its docstring).

    ``agent_port`` (``None``: no responder; 0: any free port) starts the HAProxy agent-check
    responder at :meth:`start`; ``drain_grace`` (``None``: ``2 × agent_inter + max_timeout``)
    installs the SIGTERM drain sequence; ``monitor_only`` counts would-be sheds and sheds nothing
    (the default core is built in monitor mode, so it still counts every request in flight; a
    core passed in keeps its own mode, and anything it rejects is served without a permit).
    """

    def __init__(
        self,
        core: AdmissionCore | None = None,
        *,
        policy: RequestPolicy | None = None,
        monitor_only: bool = False,
        agent_port: int | None = None,
        agent_host: str = "127.0.0.1",
        agent_inter: float = 2.0,
        agent_warmup: float = 10.0,
        drain_grace: float | None = None,
        handle_sigterm: bool = True,
        loop_lag: bool = True,
        cancel_at_deadline: bool = False,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.core: AdmissionCore = core if core is not None else StaticLimit(monitor_only=monitor_only)
        self.policy = policy or RequestPolicy()
        self.monitor_only = monitor_only
        self.cancel_at_deadline = cancel_at_deadline
        self.clock, self.wall = clock, wall
        self.retry_after = RetryAfterPolicy(rng=rng)
        self.counters = GuardCounters()
        self.probe = LoopLagProbe() if loop_lag else None
        self.line = AgentLine(start=clock(), warmup=agent_warmup)
        self.agent_port, self.agent_host = agent_port, agent_host
        self.responder: AgentCheckResponder | None = None
        grace = 2 * agent_inter + self.policy.max_timeout if drain_grace is None else drain_grace
        self.drain_grace = grace
        self.handle_sigterm = handle_sigterm
        self._drain: DrainOnSignal | None = None
        self._tick: asyncio.TimerHandle | None = None
        self._waiting = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the probe, the responder and the SIGTERM drain on the running loop."""
        self.line.start = self.clock()
        if self.probe is not None:
            self.probe.start()
        if self.agent_port is not None and self.responder is None:
            self.responder = AgentCheckResponder(
                self.load_and_limit, line=self.line, host=self.agent_host, port=self.agent_port, clock=self.clock
            )
            await self.responder.start()
        if self.handle_sigterm and self._drain is None:
            self._drain = DrainOnSignal(grace=self.drain_grace, on_drain=self.line.drain)
            try:
                self._drain.install()
            except (RuntimeError, ValueError, NotImplementedError) as exc:  # not the main thread
                log.warning("cannot take SIGTERM here (%s): no drain sequence", exc)
                self._drain = None

    async def stop(self) -> None:
        """Stop everything :meth:`start` started; the responder goes last (it answers ``drain``)."""
        if self._drain is not None:
            self._drain.uninstall()
            self._drain = None
        if self.probe is not None:
            self.probe.stop()
        if self._tick is not None:
            self._tick.cancel()
            self._tick = None
        if self.responder is not None:
            await self.responder.close()
            self.responder = None

    @property
    def draining(self) -> bool:
        return self._drain is not None and self._drain.draining

    def load_and_limit(self) -> tuple[float, int | None]:
        """What the agent-check line reports: ``(load 0-100, in-flight limit)``."""
        return self.core.load(self.clock()), self.core.limit

    # -- one request ----------------------------------------------------------------------------

    async def enter(self, method: str, path: str, get: Callable[[str], str | None]) -> Admission:
        """Classify and admit one request, waiting in the queue if the core says so."""
        if self.policy.bypassed(method, path):
            self.counters.bypassed += 1
            return _BYPASS
        now = self.clock()
        c = classify(get, policy=self.policy, now=now, wall_now=self.wall())
        if c.errors:
            self.counters.header_errors += len(c.errors)
            log.debug("bad request headers: %s", "; ".join(map(str, c.errors)))
        if now >= c.deadline:
            return self._reject(c, None, "deadline", now)
        ticket = Ticket(priority=int(c.criticality), receipt=c.receipt, deadline=c.deadline)
        self.core.acquire(ticket, now)
        self._settle()
        if ticket.state is State.WAITING:
            await self._wait(ticket)
        if not _granted(ticket):
            return self._reject(c, ticket, ticket.reason or "limit", self.clock())
        now = self.clock()
        lag = self.probe.latest if self.probe is not None else 0.0
        self.core.begin(ticket, now, now - c.receipt + lag)
        if not _granted(ticket):  # shed at handler start (slough)
            self._settle()
            return self._reject(c, ticket, ticket.reason or "expired", now)
        if now >= c.deadline:
            admission = Admission(c, ticket, None)
            self.finish(admission, Outcome.DROPPED)
            return self._reject(c, None, "deadline", now)
        self.counters.admitted += 1
        return Admission(c, ticket, None)

    def finish(self, admission: Admission, outcome: Outcome, *, status: int | None = None) -> None:
        """Complete ``admission``'s permit (a second call does nothing: exactly once)."""
        ticket = admission.ticket
        if admission.done or ticket is None or admission.response is not None:
            return
        admission.done = True
        if status is not None and status >= 500:
            self.counters.server_errors += 1
        self.counters.outcomes[outcome.value] += 1
        self.core.complete(ticket, outcome, self.clock())
        self._settle()

    def deadline_left(self, admission: Admission) -> float | None:
        """Seconds until the request's deadline when the handler is to be cancelled at it."""
        if not self.cancel_at_deadline or admission.classified is None:
            return None
        return admission.classified.deadline - self.clock()

    # -- internals ------------------------------------------------------------------------------

    def _reject(self, c: Classified, ticket: Ticket | None, reason: str, now: float) -> Admission:
        if self.monitor_only:
            # Monitor-only never sheds, whatever the core decided: count it and serve unpermitted.
            self.counters.would_shed[reason] = self.counters.would_shed.get(reason, 0) + 1
            return Admission(c, None, None)
        key = (reason, c.criticality.name)
        self.counters.shed[key] = self.counters.shed.get(key, 0) + 1
        suggested = ticket.retry_after if ticket is not None else None
        seconds = self.retry_after.next(now, suggested)
        return Admission(c, None, rejection_response(reason, retry_after=seconds, no_retry=c.is_retry))

    async def _wait(self, ticket: Ticket) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ticket.waiter = future
        self._waiting += 1
        self._arm()
        try:
            await future
        except asyncio.CancelledError:
            if ticket.state is State.WAITING:
                self.core.cancel(ticket, self.clock())
            elif ticket.state is State.GRANTED:
                # Granted in the same instant the waiter was cancelled: give the slot back.
                self.core.complete(ticket, Outcome.IGNORED, self.clock())
                self.counters.outcomes[Outcome.IGNORED.value] += 1
                self._settle()
            raise
        finally:
            self._waiting -= 1
            ticket.waiter = None

    def _settle(self) -> None:
        for ticket in self.core.settled():
            future = ticket.waiter
            if future is not None and not future.done():
                future.set_result(None)

    def _arm(self) -> None:
        if self._tick is None and self._waiting > 0:
            self._tick = asyncio.get_running_loop().call_later(TICK, self._on_tick)

    def _on_tick(self) -> None:
        self._tick = None
        self.core.expire(self.clock())
        self._settle()
        self._arm()

    def shedding_for(self) -> float:
        return self.retry_after.shedding_for(self.clock())
