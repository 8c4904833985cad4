"""Loopback fixtures for the agent: metric targets that misbehave on request, and a running agent."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from healthgauge.agent._config import parse_config
from healthgauge.agent._run import Agent
from support.fake_engine import FakeEngine


class Target:
    """A metrics endpoint on 127.0.0.1:0 whose page and behaviour the test sets."""

    def __init__(self) -> None:
        self.page = b"app_state 1\nqueue_depth 3\n"
        self.mode = "ok"  # ok | hang | 500 | huge | gzip
        self.hits = 0
        self.runner: web.AppRunner | None = None
        self.port = 0
        self._release = asyncio.Event()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.hits += 1
        if self.mode == "hang":
            await self._release.wait()
        if self.mode == "500":
            return web.Response(status=500, text="boom")
        if self.mode == "gzip":
            return web.Response(body=gzip.compress(self.page), headers={"Content-Encoding": "gzip"})
        if self.mode == "huge":
            resp = web.StreamResponse()
            await resp.prepare(request)
            for _ in range(64):
                await resp.write(b"# padding " + b"x" * 16384 + b"\n")
            return resp
        return web.Response(body=self.page, content_type="text/plain")

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self.handle)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        self.port = self.runner.addresses[0][1]

    async def stop(self) -> None:
        self._release.set()
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None
        self._release = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"


@pytest.fixture
async def targets() -> AsyncIterator[Callable[[], Awaitable[Target]]]:
    started: list[Target] = []

    async def make() -> Target:
        target = Target()
        await target.start()
        started.append(target)
        return target

    yield make
    for target in started:
        await target.stop()


def agent_config(
    urls: dict[str, str],
    extra: str = "",
    agent: str = "",
    admin: str = "127.0.0.1:0",
    interval: str = "100ms",
    timeout: str = "80ms",
) -> str:
    table = ", ".join(f'"{name}" = "{url}"' for name, url in urls.items())
    return f"""
[agent]
listen = "127.0.0.1:0"
admin = "{admin}"
shutdown_grace = "200ms"
{agent}

[[targets]]
urls = {{ {table} }}
interval = "{interval}"
timeout = "{timeout}"
ready = ["app_state == 1"]
warn = ["queue_depth > 100"]
weight = "weight_hint"
rise = 1
fall = 1
live_fall = 2
{extra}
"""


@pytest.fixture
async def run_agent() -> AsyncIterator[Callable[..., Awaitable[Agent]]]:
    agents: list[Agent] = []

    async def start(urls: dict[str, str], extra: str = "", agent: str = "", **timing: str) -> Agent:
        config = parse_config(agent_config(urls, extra, agent, **timing), FakeEngine())
        running = Agent(config, FakeEngine())
        await running.start()
        agents.append(running)
        return running

    yield start
    for running in agents:
        await running.stop()


async def get(agent: Agent | str, path: str, key: str = "http") -> tuple[int, dict[str, str], str]:
    """GET ``path`` from the agent (or from an address ``host:port``)."""
    address = agent if isinstance(agent, str) else agent.addresses[key]
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://{address}{path}", timeout=aiohttp.ClientTimeout(total=2)) as resp,
    ):
        return resp.status, dict(resp.headers), await resp.text()


async def eventually(predicate: Callable[[], bool | Awaitable[bool]], *, within: float = 5.0, what: str = "") -> None:
    """Poll until ``predicate`` holds; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what or predicate}")
        await asyncio.sleep(0.02)
