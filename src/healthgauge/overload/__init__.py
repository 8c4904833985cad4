"""Overload protection for Python services: detect queueing, adapt a concurrency limit, shed load.

The core is sans-I/O: every object takes time from an injected ``clock`` (a zero-argument callable
returning monotonic seconds; ``healthgauge.testing.FakeClock`` in tests and in the benchmark's
virtual time) and, where it needs randomness, an injected ``random.Random``. Nothing here sleeps,
starts tasks, opens sockets or imports asyncio; the ASGI and aiohttp middleware are thin adapters
around it, and ``bench/overload`` drives these same objects in a simulation (spec: overload.md).

How an adapter drives the ``AdmissionController``::

    controller = AdmissionController(queue=WaitQueue(), clock=loop.time)   # one per route group

    decision = controller.acquire(criticality=level, deadline=deadline, received_at=received)
    if isinstance(decision, Rejection):
        return reply_503(decision)                  # 504 when reason is DEADLINE (retry_after None)
    if isinstance(decision, Waiter):                # queued: wait for a grant, an expiry or the client
        future = loop.create_future()
        decision.add_done_callback(lambda w: future.done() or future.set_result(None))
        try:
            await future                            # a periodic controller.tick() resolves expiries
        except asyncio.CancelledError:
            decision.cancel()                       # leaves the queue, or releases a granted permit
            raise
        if decision.rejection is not None:
            return reply_503(decision.rejection)
        permit = decision.permit
    else:
        permit = decision
    shed = permit.start(extra_delay=loop_lag)       # handler start: feeds the queueing delay
    if shed is not None:
        return reply_503(shed)                      # sloughed; the permit is already released
    try:
        response = await app(...)
    except asyncio.CancelledError:
        permit.ignore()                             # client gone: no sample
        raise
    except TimeoutError:
        permit.dropped()                            # timeout or downstream overload: a drop
        raise
    else:
        permit.success()                            # exactly one of success / dropped / ignore

Waiter callbacks run synchronously inside the controller call that resolved them (``tick``, a
permit's completion, another ``acquire``). Host duties: call ``tick()`` every 10 ms while
``len(controller.queue)`` is non-zero (or at ``controller.next_expiry()``), pass deadlines and
receipt times as readings of the same clock, and read ``statistics()`` / ``load()`` for metrics
and the agent-check weight (``LoadReporter``).

Pieces, each with a ``statistics()`` snapshot:

- limits: ``LoopDelayLimit`` (default: the standing event-loop delay that admitted handlers cause,
  fed by the adapters' loop probe), ``QueueDelayLimit`` (spec §2.4, the 0.x default), ``AIMDLimit``,
  ``VegasLimit``, ``GradientLimit``, ``Gradient2Limit``, ``EnvoyGradientLimit``, ``FixedLimit``;
  ``WindowedLimit`` wraps the RTT ones;
- detectors: ``FollyCodel``, ``CodelDetector`` (RFC 8289);
- ``WaitQueue``: controlled delay, adaptive LIFO, active expiry, priority eviction;
- client side: ``AdaptiveThrottle`` (SRE book) and ``RetryBudget``;
- ``LoadReporter``: load 0–100 → HAProxy agent weight and maxconn, with warm-up and hysteresis.

Adapters (asyncio; loaded on first use, so importing this package does not import asyncio):
``OverloadMiddleware`` (pure ASGI), ``setup_aiohttp`` / ``aiohttp_middleware``, both over one
``OverloadGuard`` (the code above, once); ``AgentCheckResponder`` (the HAProxy agent-check port,
full-state lines), ``LoopLagProbe``, ``DrainOnSignal`` (the SIGTERM drain sequence) and
``OverloadCollector`` (Prometheus; the guard registers it in the app's registry at start);
``early_refusal(middleware, "h11" | "httptools")``, uvicorn's HTTP protocol that answers the
requests the guard refuses anyway before uvicorn parses them (``uvicorn.run(app, http=...)``).
Request classification and the 503/504 answers
are pure: ``RequestPolicy``, ``classify``, ``rejection_response``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthgauge import _lazy
from healthgauge.overload._controller import AdmissionController, ControllerStatistics, Decision
from healthgauge.overload._http import (
    Classified,
    DownstreamOverloaded,
    HeaderError,
    PlainResponse,
    RequestPolicy,
    Response,
    classify,
    rejection_response,
)
from healthgauge.overload._load import AgentReport, AgentState, LoadReporter, combine, weight_for_load
from healthgauge.overload._permit import Permit, Waiter
from healthgauge.overload._queue import Expiry, QueueEntry, QueueOrder, QueueStatistics, WaitQueue, WaitQueueStatistics
from healthgauge.overload._throttle import (
    AdaptiveThrottle,
    RetryBudget,
    RetryBudgetStatistics,
    ThrottleStatistics,
    retry_backoff,
)
from healthgauge.overload._types import (
    Clock,
    ConfigError,
    Criticality,
    Outcome,
    OverloadConfigError,
    Rejection,
    RejectReason,
    RequestOutcome,
)
from healthgauge.overload.limits._codel import CodelDetector, DelayWindow, DetectorStatistics, FollyCodel, delay_load
from healthgauge.overload.limits._envoy import EnvoyGradientLimit
from healthgauge.overload.limits._limit import FixedLimit, Limit, LimitStatistics
from healthgauge.overload.limits._loop_delay import LoopDelayLimit
from healthgauge.overload.limits._netflix import AIMDLimit, Gradient2Limit, GradientLimit, VegasLimit, WindowedLimit
from healthgauge.overload.limits._queue_delay import QueueDelayLimit

if TYPE_CHECKING:
    from healthgauge.overload.adapters._aiohttp import aiohttp_middleware, setup_aiohttp
    from healthgauge.overload.adapters._asgi import OverloadMiddleware
    from healthgauge.overload.adapters._guard import Admission, OverloadGuard
    from healthgauge.overload.adapters._looplag import LoopLagProbe, LoopLagStatistics
    from healthgauge.overload.adapters._metrics import OverloadCollector
    from healthgauge.overload.adapters._responder import AgentCheckResponder, full_state_line
    from healthgauge.overload.adapters._shutdown import DrainOnSignal
    from healthgauge.overload.adapters._uvicorn import early_refusal

# Adapter names -> the private module that defines them, imported on first attribute access.
_LAZY = {
    "Admission": "healthgauge.overload.adapters._guard",
    "AgentCheckResponder": "healthgauge.overload.adapters._responder",
    "DrainOnSignal": "healthgauge.overload.adapters._shutdown",
    "LoopLagProbe": "healthgauge.overload.adapters._looplag",
    "LoopLagStatistics": "healthgauge.overload.adapters._looplag",
    "OverloadCollector": "healthgauge.overload.adapters._metrics",
    "OverloadGuard": "healthgauge.overload.adapters._guard",
    "OverloadMiddleware": "healthgauge.overload.adapters._asgi",
    "aiohttp_middleware": "healthgauge.overload.adapters._aiohttp",
    "early_refusal": "healthgauge.overload.adapters._uvicorn",
    "full_state_line": "healthgauge.overload.adapters._responder",
    "setup_aiohttp": "healthgauge.overload.adapters._aiohttp",
}

__all__ = [
    "AIMDLimit",
    "AdaptiveThrottle",
    "Admission",
    "AdmissionController",
    "AgentCheckResponder",
    "AgentReport",
    "AgentState",
    "Classified",
    "Clock",
    "CodelDetector",
    "ConfigError",
    "ControllerStatistics",
    "Criticality",
    "Decision",
    "DelayWindow",
    "DetectorStatistics",
    "DownstreamOverloaded",
    "DrainOnSignal",
    "EnvoyGradientLimit",
    "Expiry",
    "FixedLimit",
    "FollyCodel",
    "Gradient2Limit",
    "GradientLimit",
    "HeaderError",
    "Limit",
    "LimitStatistics",
    "LoadReporter",
    "LoopDelayLimit",
    "LoopLagProbe",
    "LoopLagStatistics",
    "Outcome",
    "OverloadCollector",
    "OverloadConfigError",
    "OverloadGuard",
    "OverloadMiddleware",
    "Permit",
    "PlainResponse",
    "QueueDelayLimit",
    "QueueEntry",
    "QueueOrder",
    "QueueStatistics",
    "RejectReason",
    "Rejection",
    "RequestOutcome",
    "RequestPolicy",
    "Response",
    "RetryBudget",
    "RetryBudgetStatistics",
    "ThrottleStatistics",
    "VegasLimit",
    "WaitQueue",
    "WaitQueueStatistics",
    "Waiter",
    "WindowedLimit",
    "aiohttp_middleware",
    "classify",
    "combine",
    "delay_load",
    "early_refusal",
    "full_state_line",
    "rejection_response",
    "retry_backoff",
    "setup_aiohttp",
    "weight_for_load",
]

__getattr__ = _lazy(__name__, _LAZY)
