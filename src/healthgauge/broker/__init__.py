"""A Spillway-style broker (spec §7): offer each request to up to three workers in turn, queue it
by class when all refuse, and let free workers pull. Pure scheduling core; the asyncio adapter
(:class:`AsyncBroker`) loads on first use, so importing this package does not import asyncio.

The service that runs it as an HTTP/1.1 reverse proxy is ``healthgauge broker --config FILE``
(``_cmd.py``: config ``_config.py``, framing ``_wire.py``, connections ``_proxy.py``, the request
flow ``_service.py``, ``/metrics`` ``_metrics.py``, agent-check both ways ``_agents.py``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from healthgauge import _lazy
from healthgauge.broker._broker import (
    Broker,
    ClassQueueStatistics,
    Job,
    JobClass,
    JobState,
    QueueLimits,
    QueueStatistics,
)
from healthgauge.broker._registry import Registry, WorkerReport, WorkerView, parse_load, rendezvous_order

if TYPE_CHECKING:
    from healthgauge.broker._asyncio import AsyncBroker, BrokerRejected

_LAZY = {"AsyncBroker": "healthgauge.broker._asyncio", "BrokerRejected": "healthgauge.broker._asyncio"}

__all__ = [
    "AsyncBroker",
    "Broker",
    "BrokerRejected",
    "ClassQueueStatistics",
    "Job",
    "JobClass",
    "JobState",
    "QueueLimits",
    "QueueStatistics",
    "Registry",
    "WorkerReport",
    "WorkerView",
    "parse_load",
    "rendezvous_order",
]

__getattr__ = _lazy(__name__, _LAZY)
