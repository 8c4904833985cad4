"""The broker and HAProxy's agent-check, both ways: the broker answers one (its weight from its
queues, ``drain`` while draining) and polls its workers' agent-check ports where configured, so a
worker that sends no ``Healthgauge-Load`` still tells its load (spec §7 rule 1)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from healthgauge.broker._registry import parse_load
from healthgauge.overload import AgentCheckResponder, AgentReport, AgentState, weight_for_load

if TYPE_CHECKING:
    from healthgauge.broker._service import BrokerService

__all__ = ["agent_report", "poll_agents", "responder"]

log = logging.getLogger("healthgauge.broker")

# One agent line is short; a worker's agent answers at once or is skipped this round.
AGENT_READ = 256
AGENT_TIMEOUT = 0.5


def agent_report(service: BrokerService) -> AgentReport:
    """The broker's own agent-check answer: its load is how full its fullest queue is."""
    if service.draining:
        return AgentReport(weight=None, maxconn=None, state=AgentState.DRAIN, load=100)
    load = round(100 * service.queue_fill())
    return AgentReport(weight=weight_for_load(load), maxconn=None, state=AgentState.READY, load=load)


async def responder(service: BrokerService) -> AgentCheckResponder:
    assert service.config.agent_check is not None
    host, port = service.config.agent_check
    agent = AgentCheckResponder(lambda: agent_report(service), host=host, port=port)
    await agent.start()
    return agent


async def poll_agents(service: BrokerService) -> None:
    """Every ``report_interval``, read each configured worker agent's line into the registry."""
    while True:
        for w in service.config.workers:
            if w.agent_port is not None and w.name in service.registry:
                await _poll_one(service, w.name, w.host, w.agent_port, w.max_inflight)
        await asyncio.sleep(service.config.report_interval)


async def _poll_one(service: BrokerService, name: str, host: str, port: int, cap: int) -> None:
    try:
        async with asyncio.timeout(AGENT_TIMEOUT):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                line = await reader.readline()
            finally:
                writer.close()
    except (OSError, TimeoutError):
        return  # silence is not an error: the worker's answers and failures say the rest
    report = parse_load(line[:AGENT_READ].decode("ascii", "replace"), cap=cap)
    if report is not None:
        service.registry.report(name, report, now=service.loop.time())
