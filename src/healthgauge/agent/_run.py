"""The running agent: listeners, one scrape loop per target, and the shutdown drain.

Start order: the hub exists first (every target live and not ready), then the state file (when
configured) restores what it may and is written once (a path that cannot be written stops the
agent here), then the HTTP endpoints, the admin listener and the consumer listeners bind (so a
bind failure stops the agent before it scrapes anything, and every consumer's first answer is the
restored state), then the scrape loops start. Stop order: report drain on every target for the
grace period while still scraping and serving, then stop the loops, write the state file a last
time, close the listeners and the targets' connections.

A running agent reloads its configuration with :meth:`Agent.reload` (SIGHUP and
``healthgauge ctl reload`` call it; what changes is decided in ``_reload.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from healthgauge.agent._config import Config, ConfigError, TargetConfig
from healthgauge.agent._logs import StateLog
from healthgauge.agent._probeloop import ProbeLoop
from healthgauge.agent._reload import Plan, applied_agent, keeps_history, plan
from healthgauge.agent._scrape import PARSERS, TargetLoop, spread
from healthgauge.agent.judge._engine import Engine, History
from healthgauge.agent.judge._promql_engine import promql_engine
from healthgauge.agent.servers._admin import AdminAPI
from healthgauge.agent.servers._endpoints import Endpoints, start_site
from healthgauge.agent.servers._listeners import Listener, resolve
from healthgauge.agent.servers._metrics import AgentMetrics
from healthgauge.agent.servers._probeserver import ProbeServer
from healthgauge.agent.servers._resources import QuietAcceptErrors, connection_cap
from healthgauge.agent.servers._status import AgentFacts, RuleHistory, StatusPage
from healthgauge.agent.state._hub import StateHub
from healthgauge.agent.state._statecodec import StateFileError, fingerprint, restore
from healthgauge.agent.state._statewriter import StateFile, move_aside, read
from healthgauge.health._safeguards import Group, Safeguards

log = logging.getLogger("healthgauge.agent")
# Lines while draining: about this many over the grace period, at most one a second.
DRAIN_LINES = 5


@dataclass(slots=True)
class ReloadStatus:
    """The last reload, as ``healthgauge_config_last_reload_*`` and the status page show it.
    ``success_at`` starts at the agent's start (Prometheus does the same)."""

    successful: bool = True
    success_at: float = 0.0
    attempts: int = 0
    error: str = ""


class Agent:
    """One agent process's worth of work; ``async with Agent(...)`` starts and stops it.

    ``engine`` parses pages and evaluates rules (:func:`healthgauge.agent.promql_engine`, the
    default); ``loader`` reads the configuration again for :meth:`reload_from_source` (SIGHUP,
    ``ctl reload``): ``healthgauge agent`` passes one that reads ``--config``.
    """

    def __init__(
        self,
        config: Config,
        engine: Engine | None = None,
        *,
        wall: Callable[[], float] = time.time,
        loader: Callable[[], Config] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine if engine is not None else promql_engine()
        self.wall = wall
        self.loader = loader
        self.hub = StateHub(config.specs(), safeguards(config))
        self.addresses: dict[str, str] = {}
        self.loops: dict[str, TargetLoop] = {}
        self.reloads = ReloadStatus(success_at=wall())
        self.started_at = wall()
        self.metrics = AgentMetrics(
            self.hub, lambda: [(lp.target.name, lp.stats) for lp in self.loops.values()], reloads=self.reloads
        )
        self.rule_history = RuleHistory()
        self._reload_lock = asyncio.Lock()
        self._scrapes: dict[str, asyncio.Task[None]] = {}
        self._runners: list[web.BaseRunner] = []
        self._listeners: list[Listener] = []
        self._probe_server: ProbeServer | None = None
        self._accept_errors = QuietAcceptErrors()
        self.state_file: StateFile | None = None
        self._parsers_held = False

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
        PARSERS.hold()  # started by the first big page, stopped by the last agent's stop()
        self._parsers_held = True
        if agent.state_file:
            self.state_file = self._open_state_file(Path(agent.state_file))
        self.hub.subscribe(StateLog())
        self.hub.subscribe(self.rule_history)
        status = StatusPage(self.hub, self._facts(), self.rule_history, wall=self.wall)
        endpoints = Endpoints(self.hub, metrics=self.metrics.render, status=status)
        cap = connection_cap(2 + len(agent.listeners), len(self.config.targets))
        self._probe_server = ProbeServer(endpoints.handle, max_connections=cap)
        self.addresses["http"] = await self._probe_server.start(agent.listen.host, agent.listen.port)
        if agent.admin is not None:
            persist = self.state_file.flush if self.state_file is not None else None
            reload = self.reload_from_source if self.loader else None
            api = AdminAPI(self.hub, persist=persist, reload=reload, token=agent.admin_token)
            admin = web.AppRunner(api.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
            await self._serve("admin", admin, agent.admin.host, agent.admin.port, agent.admin.path)
        for key, address in agent.listeners.items():
            listener = await resolve(key)(address, self.hub, self.config)
            self._listeners.append(listener)
            self.addresses[key] = listener.addresses[0]
        phases = spread(self.config.targets)
        for target in self.config.targets:
            self._start_loop(self._loop(target, phases[target.name]))
        if self.state_file is not None:
            self.state_file.start()
        listening = ", ".join(f"{key} {address}" for key, address in self.addresses.items())
        log.info("started: %d target(s), listening %s", len(self.config.targets), listening,
                 extra={"targets": len(self.config.targets), "listeners": dict(self.addresses)})  # fmt: skip
        for target in self.config.targets:
            log.info("target %s: every %gs, %d rule(s)", target.name, target.interval, len(target.rules),
                     extra={"target": target.name, "interval": target.interval})  # fmt: skip

    def _facts(self) -> AgentFacts:
        def scrapes() -> tuple[int, int]:
            stats = [loop.stats for loop in self.loops.values()]
            return sum(s.ok for s in stats), sum(s.failed for s in stats)

        def state_file_error() -> str:
            return self.state_file.statistics().last_error if self.state_file is not None else ""

        return AgentFacts(
            started_at=self.started_at,
            addresses=self.addresses,
            config=lambda: self.config,
            reloads=self.reloads,
            scrapes=scrapes,
            state_file_error=state_file_error,
        )

    def _loop(self, target: TargetConfig, phase: float) -> TargetLoop:
        kind = TargetLoop if target.probe is None else ProbeLoop
        return kind(target, engine=self.engine, hub=self.hub, wall=self.wall, phase=phase)

    def _start_loop(self, loop: TargetLoop) -> None:
        name = loop.target.name
        self.loops[name] = loop
        self._scrapes[name] = asyncio.create_task(loop.run(), name=f"scrape {name}")

    async def _stop_loop(self, name: str) -> None:
        task = self._scrapes.pop(name)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await self.loops.pop(name).aclose()

    async def reload_from_source(self) -> Plan:
        """Read the configuration again with ``loader`` and apply it (:meth:`reload`); a file that
        cannot be read or is invalid changes nothing and raises :class:`ConfigError`."""
        if self.loader is None:
            raise ConfigError("this agent has no configuration file to reload")
        try:
            config = await asyncio.to_thread(self.loader)
        except ConfigError as exc:
            self._reload_failed(str(exc))
            raise
        return await self.reload(config)

    async def reload(self, config: Config) -> Plan:
        """Apply a new, already validated configuration (see ``_reload.py`` for what each kind of
        change does). Raises :class:`ConfigError`, changing nothing, when it cannot be applied.
        Reloads run one at a time (a SIGHUP and a ``ctl reload`` may cross)."""
        async with self._reload_lock:
            return await self._reload(config)

    async def _reload(self, config: Config) -> Plan:
        try:
            change = plan(self.config, config)
        except ConfigError as exc:
            self._reload_failed(str(exc))
            raise
        histories = self._kept_histories(change, config)
        config = dataclasses.replace(config, agent=applied_agent(self.config.agent, config.agent))
        for name in (*change.removed, *change.changed, *change.moved):
            await self._stop_loop(name)
        if _safeguarded(config) != _safeguarded(self.config):
            self.hub.safeguards = safeguards(config)  # damping and guards start over
        self.hub.reconfigure(config.specs(), fresh=change.moved)
        self.config = config
        self._retarget(config)
        phases = spread(config.targets)
        for target in config.targets:
            if target.name in change.unchanged:
                self.loops[target.name].target = target
                continue
            loop = self._loop(target, phases[target.name])
            loop.at_once = True  # a target added or changed is judged at once
            loop.history = histories.get(target.name, loop.history)
            self._start_loop(loop)
        self.reloads.attempts += 1
        self.reloads.successful, self.reloads.success_at, self.reloads.error = True, self.wall(), ""
        log.info("configuration reloaded: %s", change.summary(), extra={"reload": "ok"})
        for key in change.restart_needed:
            log.warning("agent.%s changed: it is bound at start and applies at the next restart", key)
        return change

    def _kept_histories(self, change: Plan, config: Config) -> dict[str, History]:
        """The histories of changed targets that stay valid (same URL, same length)."""
        old = {t.name: t for t in self.config.targets}
        return {
            t.name: self.loops[t.name].history
            for t in config.targets
            if t.name in change.changed and keeps_history(old[t.name], t)
        }

    def _retarget(self, config: Config) -> None:
        """Point what was built from the old configuration at the new one."""
        if self.state_file is not None:
            self.state_file.retarget({t.name: fingerprint(t) for t in config.targets})
        for listener in self._listeners:
            reconfigure = getattr(listener, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(config)

    def _reload_failed(self, error: str) -> None:
        self.reloads.attempts += 1
        self.reloads.successful, self.reloads.error = False, error
        log.error("reload failed, still running the previous configuration: %s", error, extra={"reload": "failed"})

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
        count = len(self.hub.names)
        log.info("draining %d target(s) for %gs before exit (a second signal stops at once)", count, grace)
        loop = asyncio.get_running_loop()
        end = loop.time() + grace
        step = max(1.0, grace / DRAIN_LINES)
        stop = cut_short or asyncio.Event()
        while (left := end - loop.time()) > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(step, left))
            if stop.is_set():
                log.info("drain cut short by a second signal")
                return
            if end - loop.time() > 0.05:
                log.info("draining: %.0fs left", end - loop.time())
        log.info("drain done")

    async def stop(self) -> None:
        for task in self._scrapes.values():
            task.cancel()
        await asyncio.gather(*self._scrapes.values(), return_exceptions=True)
        self._scrapes.clear()
        if self._parsers_held:
            self._parsers_held = False
            await asyncio.to_thread(PARSERS.release)  # the last agent stops the parsing children
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
        for loop in self.loops.values():
            await loop.aclose()
        self._accept_errors.uninstall(asyncio.get_running_loop())

    async def _serve(self, key: str, runner: web.BaseRunner, host: str, port: int, path: str = "") -> None:
        self.addresses[key] = await start_site(runner, host, port, path)
        self._runners.append(runner)


def _safeguarded(config: Config) -> object:
    """What the safeguards are built from: a reload that leaves it alone keeps them (and what
    they remember)."""
    return [(t.name, t.damping, t.group) for t in config.targets], dict(config.groups)


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
