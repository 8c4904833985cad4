"""A real Prometheus scrapes the agent's /metrics without error and reads back its weight."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from healthgauge.agent._run import Agent
from healthgauge.health._state import Level
from support.prometheus import Prometheus

from .conftest import Target, eventually

pytestmark = pytest.mark.real


async def test_prometheus_reads_the_agents_weight(
    tmp_path: Path, targets: Callable[[], Awaitable[Target]], run_agent: Callable[..., Awaitable[Agent]]
) -> None:
    t = await targets()
    t.page = b"app_state 1\nqueue_depth 3\nweight_hint 70\n"
    agent = await run_agent({"w": t.url}, extra='maxconn = "40"')
    await eventually(lambda: agent.hub.get("w").level is Level.DEGRADED)  # type: ignore[union-attr]
    config = f"""
global: {{scrape_interval: 1s, scrape_timeout: 500ms}}
scrape_configs:
  - job_name: agent
    static_configs: [{{targets: ["{agent.addresses["http"]}"]}}]
"""
    prom = Prometheus(tmp_path, config=config)
    await asyncio.to_thread(prom.__enter__)
    try:

        def scraped() -> bool:
            result = prom.query('healthgauge_target_weight{target="w"}')["result"]
            return bool(result)

        deadline = time.monotonic() + 20
        while not await asyncio.to_thread(scraped):
            assert time.monotonic() < deadline, "prometheus never stored the agent's weight"
            await asyncio.sleep(0.25)
        (weight,) = (await asyncio.to_thread(prom.query, 'healthgauge_target_weight{target="w"}'))["result"]
        assert weight["value"][1] == "70"
        (maxconn,) = (await asyncio.to_thread(prom.query, 'healthgauge_target_maxconn{target="w"}'))["result"]
        assert maxconn["value"][1] == "40"
        targets_doc = await asyncio.to_thread(prom.api, "targets")
        (active,) = targets_doc["data"]["activeTargets"]
        assert (active["health"], active["lastError"]) == ("up", "")
    finally:
        await asyncio.to_thread(prom.__exit__, None, None, None)
