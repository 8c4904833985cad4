"""The running agent: listeners, one scrape loop per target, and the shutdown drain.

Start order: the hub exists first (every target live and not ready), then the HTTP endpoints, the
admin listener and the consumer listeners bind (so a bind failure stops the agent before it scrapes
anything), then the scrape loops start. Stop order: report drain on every target for the grace
period while still scraping and serving, then stop the loops, close the listeners and the
targets' connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from aiohttp import web

from healthgauge.agent._admin import AdminAPI
from healthgauge.agent._config import Config
from healthgauge.agent._endpoints import Endpoints, start_site
from healthgauge.agent._engine import Engine
from healthgauge.agent._hub import StateHub
from healthgauge.agent._listeners import Listener, resolve
from healthgauge.agent._metrics import AgentMetrics
from healthgauge.agent._probeserver import ProbeServer
from healthgauge.agent._scrape import TargetLoop

log = logging.getLogger("healthgauge.agent")


class Agent:
    """One agent process's worth of work; ``async with Agent(...)`` starts and stops it."""

    def __init__(self, config: Config, engine: Engine, *, wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.engine = engine
        self.wall = wall
        self.hub = StateHub({t.name: t.policy for t in config.targets})
        self.addresses: dict[str, str] = {}
        self.loops: list[TargetLoop] = []
        self.metrics = AgentMetrics(self.hub, lambda: [(lp.target.name, lp.stats) for lp in self.loops])
        self._runners: list[web.BaseRunner] = []
        self._listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._probe_server: ProbeServer | None = None

    async def __aenter__(self) -> Agent:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Bind every listener, then start scraping. Raises OSError when a bind fails."""
        agent = self.config.agent
        max_age = {t.name: int(t.interval) for t in self.config.targets}
        endpoints = Endpoints(self.hub, max_age=max_age, metrics=self.metrics.render)
        self._probe_server = ProbeServer(endpoints.handle)
        self.addresses["http"] = await self._probe_server.start(agent.listen.host, agent.listen.port)
        if agent.admin is not None:
            admin = web.AppRunner(AdminAPI(self.hub).app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
            await self._serve("admin", admin, agent.admin.host, agent.admin.port, agent.admin.path)
        for key, address in agent.listeners.items():
            listener = await resolve(key)(address, self.hub, self.config)
            self._listeners.append(listener)
            self.addresses[key] = listener.addresses[0]
        for target in self.config.targets:
            loop = TargetLoop(target, engine=self.engine, hub=self.hub, wall=self.wall)
            self.loops.append(loop)
            self._tasks.append(asyncio.create_task(loop.run(), name=f"scrape {target.name}"))

    async def drain(self, grace: float | None = None, *, cut_short: asyncio.Event | None = None) -> None:
        """Report every target draining for ``grace`` seconds (the config's ``shutdown_grace``),
        still scraping and answering; ``cut_short`` ends the wait early (a second signal)."""
        grace = self.config.agent.shutdown_grace if grace is None else grace
        self.hub.shut_down()
        log.info("draining for %gs before exit", grace)
        if cut_short is None:
            await asyncio.sleep(grace)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(cut_short.wait(), grace)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for listener in self._listeners:
            await listener.close()
        self._listeners.clear()
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        if self._probe_server is not None:
            await self._probe_server.close()
            self._probe_server = None
        for loop in self.loops:
            loop.endpoint.close()

    async def _serve(self, key: str, runner: web.BaseRunner, host: str, port: int, path: str = "") -> None:
        self.addresses[key] = await start_site(runner, host, port, path)
        self._runners.append(runner)
