"""A page that repeats a series: the agent keeps the first sample, as Prometheus 2.42 does (the
target stays healthy), and counts the dropped ones in its own /metrics (never silently)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client.parser import text_string_to_metric_families

from healthgauge.agent._config import parse_config
from healthgauge.agent._run import Agent
from healthgauge.agent.judge._promql_engine import PromEngine
from healthgauge.health._state import Level

from .conftest import Target, agent_config, eventually, get

PAGE = b"app_state 1\napp_state 0\nqueue_depth 3\nqueue_depth 4\nqueue_depth 5\nweight_hint 100\n"


async def test_repeated_series_keep_the_first_sample_and_are_counted(
    targets: Callable[[], Awaitable[Target]],
) -> None:
    t = await targets()
    t.page = PAGE
    engine = PromEngine()
    agent = Agent(parse_config(agent_config({"w": t.url}, "", ""), engine), engine)
    await agent.start()
    try:
        await eventually(lambda: getattr(agent.hub.get("w"), "level", None) is Level.HEALTHY)
        code, _, body = await get(agent, "/metrics")
        assert code == 200
        dropped = {
            s.labels["target"]: s.value
            for family in text_string_to_metric_families(body)
            for s in family.samples
            if s.name == "healthgauge_scrape_dropped_samples_total"
        }
        scrapes = agent.hub.get("w").checks  # type: ignore[union-attr]
        assert dropped["w"] >= 3  # three repeats a scrape
        assert dropped["w"] % 3 == 0
        assert scrapes >= 1
    finally:
        await agent.stop()
