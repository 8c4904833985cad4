"""The broker polls a worker's agent-check port (the one agent-check listener serving fixed words)
and learns its load from the line, as it does from a refusal's ``Healthgauge-Load``."""

from __future__ import annotations

import asyncio

from healthgauge.agentcheck import AgentCheckListener, Overflow
from healthgauge.broker._agents import _poll_one
from healthgauge.broker._config import parse_config
from healthgauge.broker._service import BrokerService


async def test_a_workers_agent_line_becomes_its_report() -> None:
    agent = AgentCheckListener(
        lambda _request: b"up ready 40% maxconn:8 inflight:2\n",
        reads_request=False,
        overflow=Overflow.CLOSE,
        max_connections=4,
        read_deadline=0.2,
    )
    await agent.start("127.0.0.1", 0)
    try:
        config = parse_config(
            f'listen = "127.0.0.1:0"\n[[workers]]\nname = "w"\nurl = "http://127.0.0.1:1"\nagent_port = {agent.port}\n'
        )
        service = BrokerService(config, loop=asyncio.get_running_loop())
        assert not service.registry.view("w", now=service.loop.time()).known
        await _poll_one(service, "w", "127.0.0.1", agent.port, 4)
        view = service.registry.view("w", now=service.loop.time())
        assert (view.known, view.load, view.limit, view.n) == (True, 60.0, 8, 2)
        await _poll_one(service, "w", "127.0.0.1", 1, 4)  # nobody there: silence, nothing changes
        assert service.registry.view("w", now=service.loop.time()).load == 60.0
    finally:
        await agent.close()
