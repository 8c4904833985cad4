"""The running agent: listeners, one scrape loop per target, and the shutdown drain.

Start order: the hub exists first (every target live and not ready), then the state file (when
configured) restores what it may and is written once (a path that cannot be written stops the
agent here), then the HTTP endpoints, the admin listener and the consumer listeners bind (so a
bind failure stops the agent before it scrapes anything, and every consumer's first answer is the
restored state), then the scrape loops start. Stop order: report drain on every target for the
grace period while still scraping and serving, then stop the loops, write the state file a last
time, close the listeners and the targets' connections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from healthgauge.agent._config import Config
from healthgauge.agent._probeloop import ProbeLoop
from healthgauge.agent._scrape import TargetLoop, spread
from healthgauge.agent.judge._engine import Engine
from healthgauge.agent.servers._admin import AdminAPI
from healthgauge.agent.servers._endpoints import Endpoints, start_site
from healthgauge.agent.servers._listeners import Listener, resolve
from healthgauge.agent.servers._metrics import AgentMetrics
from healthgauge.agent.servers._probeserver import ProbeServer
from healthgauge.agent.servers._resources import QuietAcceptErrors, connection_cap
from healthgauge.agent.state._hub import StateHub
from healthgauge.agent.state._statecodec import StateFileError, fingerprint, restore
from healthgauge.agent.state._statewriter import StateFile, move_aside, read
from healthgauge.health._safeguards import Group, Safeguards

log = logging.getLogger("healthgauge.agent")


class Agent:
    """One agent process's worth of work; ``async with Agent(...)`` starts and stops it."""

    def __init__(self, config: Config, engine: Engine, *, wall: Callable[[], float] = time.time) -> None:
        self.config = config
        self.engine = engine
        self.wall = wall
        self.hub = StateHub(config.specs(), safeguards(config))
        self.addresses: dict[str, str] = {}
        self.loops: list[TargetLoop] = []
        self.metrics = AgentMetrics(self.hub, lambda: [(lp.target.name, lp.stats) for lp in self.loops])
        self._runners: list[web.BaseRunner] = []
        self._listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._probe_server: ProbeServer | None = None
        self._accept_errors = QuietAcceptErrors()
        self.state_file: StateFile | None = None

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
        """Bind every listener, then start scraping. Raises OSError when a bind fails,
        StateFileError when the state file cannot be written."""
        agent = self.config.agent
        self._accept_errors.install(asyncio.get_running_loop())
        if agent.state_file:
            self.state_file = self._open_state_file(Path(agent.state_file))
        endpoints = Endpoints(self.hub, metrics=self.metrics.render)
        cap = connection_cap(2 + len(agent.listeners), len(self.config.targets))
        self._probe_server = ProbeServer(endpoints.handle, max_connections=cap)
        self.addresses["http"] = await self._probe_server.start(agent.listen.host, agent.listen.port)
        if agent.admin is not None:
            persist = self.state_file.flush if self.state_file is not None else None
            api = AdminAPI(self.hub, persist=persist, token=agent.admin_token)
            admin = web.AppRunner(api.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
            await self._serve("admin", admin, agent.admin.host, agent.admin.port, agent.admin.path)
        for key, address in agent.listeners.items():
            listener = await resolve(key)(address, self.hub, self.config)
            self._listeners.append(listener)
            self.addresses[key] = listener.addresses[0]
        phases = spread(self.config.targets)
        for target in self.config.targets:
            kind = TargetLoop if target.probe is None else ProbeLoop
            loop = kind(target, engine=self.engine, hub=self.hub, wall=self.wall, phase=phases[target.name])
            self.loops.append(loop)
            self._tasks.append(asyncio.create_task(loop.run(), name=f"scrape {target.name}"))
        if self.state_file is not None:
            self.state_file.start()

    def _open_state_file(self, path: Path) -> StateFile:
        """Restore what the file allows (see agent/state/_statecodec.py), then write it once."""
        try:
            saved = read(path)
        except StateFileError as exc:
            aside = move_aside(path)
            kept = f"; it is kept as {aside}" if aside else ""
            log.error("state_file %s; every target starts fresh (live, not ready)%s", exc, kept)
            saved = None
        if saved is not None:
            restored = restore(saved, self.config.targets, self.wall())
            for state in restored.states.values():
                self.hub.restore(state)
            for note in restored.notes:
                log.info("state_file: %s", note)
        fingerprints = {t.name: fingerprint(t) for t in self.config.targets}
        state_file = StateFile(path, self.hub, fingerprints, wall=self.wall)
        try:
            state_file.write_now()
        except OSError as exc:
            raise StateFileError(f"cannot write state_file {path}: {exc.strerror or exc}") from exc
        return state_file

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
        if self.state_file is not None:
            await self.state_file.close()
            self.state_file = None
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
            await loop.aclose()
        self._accept_errors.uninstall(asyncio.get_running_loop())

    async def _serve(self, key: str, runner: web.BaseRunner, host: str, port: int, path: str = "") -> None:
        self.addresses[key] = await start_site(runner, host, port, path)
        self._runners.append(runner)


def safeguards(config: Config) -> Safeguards | None:
    """Flap damping for the targets that enable it and a cascade guard per group; ``None`` when
    the configuration asks for neither (the hub then publishes judged states as they are)."""
    damping = {t.name: t.damping for t in config.targets if t.damping is not None}
    members: dict[str, list[str]] = {}
    for target in config.targets:
        if target.group:
            members.setdefault(target.group, []).append(target.name)
    groups = {name: Group(guard=config.groups[name], members=tuple(names)) for name, names in members.items()}
    if not damping and not groups:
        return None
    return Safeguards(damping, groups)
