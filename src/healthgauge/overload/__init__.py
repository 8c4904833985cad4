"""Overload protection for Python services: measure queueing, limit concurrency, shed early, and
tell the load balancer (spec: shared/specs/overload.md).

The pure pieces import nothing heavy. The asyncio adapters (middlewares, the agent-check
responder, the loop-lag probe, the drain-on-SIGTERM sequence) load on first use, so
``import healthgauge.overload`` does not import asyncio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from healthgauge.overload._agentline import AdminState, AgentLine, AgentReply
from healthgauge.overload._contract import AdmissionCore, DownstreamOverloaded, Outcome, State, Ticket
from healthgauge.overload._http import (
    Classified,
    Criticality,
    HeaderError,
    RequestPolicy,
    Response,
    RetryAfterPolicy,
    classify,
    rejection_response,
)
from healthgauge.overload._static import StaticLimit, StaticLimitStatistics

if TYPE_CHECKING:
    from healthgauge.overload._aiohttp import aiohttp_middleware, setup_aiohttp
    from healthgauge.overload._asgi import OverloadMiddleware
    from healthgauge.overload._guard import Admission, OverloadGuard
    from healthgauge.overload._looplag import LoopLagProbe, LoopLagStatistics
    from healthgauge.overload._metrics import OverloadCollector
    from healthgauge.overload._responder import AgentCheckResponder
    from healthgauge.overload._shutdown import DrainOnSignal

# Adapter names -> the private module that defines them, imported on first attribute access.
_LAZY = {
    "Admission": "healthgauge.overload._guard",
    "OverloadCollector": "healthgauge.overload._metrics",
    "OverloadGuard": "healthgauge.overload._guard",
    "OverloadMiddleware": "healthgauge.overload._asgi",
    "aiohttp_middleware": "healthgauge.overload._aiohttp",
    "setup_aiohttp": "healthgauge.overload._aiohttp",
    "AgentCheckResponder": "healthgauge.overload._responder",
    "DrainOnSignal": "healthgauge.overload._shutdown",
    "LoopLagProbe": "healthgauge.overload._looplag",
    "LoopLagStatistics": "healthgauge.overload._looplag",
}

__all__ = [
    "AdminState",
    "Admission",
    "AdmissionCore",
    "AgentCheckResponder",
    "AgentLine",
    "AgentReply",
    "Classified",
    "Criticality",
    "DownstreamOverloaded",
    "DrainOnSignal",
    "HeaderError",
    "LoopLagProbe",
    "LoopLagStatistics",
    "Outcome",
    "OverloadCollector",
    "OverloadGuard",
    "OverloadMiddleware",
    "RequestPolicy",
    "Response",
    "RetryAfterPolicy",
    "State",
    "StaticLimit",
    "StaticLimitStatistics",
    "Ticket",
    "aiohttp_middleware",
    "classify",
    "rejection_response",
    "setup_aiohttp",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'healthgauge.overload' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
