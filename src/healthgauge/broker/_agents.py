"""The broker and HAProxy's agent-check, both ways: the broker answers one (its weight from its
queues, ``drain`` while draining) and polls its workers' agent-check ports where configured, so a
worker that sends no ``Healthgauge-Load`` still tells its load (spec §7 rule 1)."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from healthgauge.agentcheck import Admin, AgentCheckListener, AgentReply, Overflow, encode_reply
from healthgauge.broker._registry import parse_load
from healthgauge.overload import weight_for_load

if TYPE_CHECKING:
    from healthgauge.broker._service import BrokerService

__all__ = ["agent_line", "poll_agents", "responder"]

log = logging.getLogger("healthgauge.broker")

# One agent line is short; a worker's agent answers at once or is skipped this round.
AGENT_READ = 256
AGENT_TIMEOUT = 0.5
# HAProxy processes poll every agent-inter; a handful at once is normal, hundreds is not.
MAX_AGENT_CONNECTIONS = 64
# Nothing is read: the broker answers every server the same (HAProxy may send agent-send or not).
READ_DEADLINE = 0.5


def agent_line(service: BrokerService) -> bytes:
    """The broker's own agent-check answer, a full state (the one codec): the weight falls as its
    fullest queue fills (never below the floor: a busy broker is not a drained one); ``drain``
    from SIGTERM on, so HAProxy sends new clients to the other replicas."""
    load = round(100 * service.queue_fill())
    admin = Admin.DRAIN if service.draining else Admin.READY
    return encode_reply(AgentReply(up=True, admin=admin, weight=weight_for_load(load)))


async def responder(service: BrokerService) -> AgentCheckListener:
    assert service.config.agent_check is not None
    host, port = service.config.agent_check
    listener = AgentCheckListener(
        lambda _request: agent_line(service),
        reads_request=False,
        overflow=Overflow.CLOSE,
        max_connections=MAX_AGENT_CONNECTIONS,
        read_deadline=READ_DEADLINE,
    )
    await listener.start(host, port)
    return listener


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
