"""``healthgauge demo``: a demo service and the agent on loopback, watched live in the terminal.

The demo service is a real HTTP server exposing what a worker usually exposes: a progress
timestamp, a jobs counter and a queue depth. Each worker runs a cycle on its own: healthy, then
its queue builds up (warn, lower weight), then it gets stuck (no progress: the counter stalls,
then the timestamp grows old), then it slowly recovers and drains its queue. The agent watches
two such workers, a few seconds apart, with the embedded configuration below, and every change of
a target's live / ready / warn / weight and reason is printed as it happens.

Usage: ``healthgauge demo [--duration SECONDS]`` (``make demo``); Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from aiohttp import web

from healthgauge.health._state import TargetState

EXIT_OK = 0
EXIT_USAGE = 3

# The cycle of one worker, in seconds from its start (it repeats).
HEALTHY_UNTIL = 8.0
BUSY_UNTIL = 16.0
STUCK_UNTIL = 26.0
CYCLE = 40.0

CONFIG = """\
[agent]
listen = "127.0.0.1:0"
admin = "127.0.0.1:0"
shutdown_grace = "1s"

[[targets]]
urls = {{ {urls} }}
interval = "500ms"
timeout = "250ms"
# Dead when no iteration for 5s (a restart would help); not ready when no job was done in the
# last 2s, caught from an ordinary counter (a stuck worker still answers /metrics).
live = ["time() - demo_last_iteration_timestamp_seconds < 5"]
ready = ["increase(demo_jobs_processed_total[2s]) > 0"]
warn = ["demo_queue_depth > 100"]
weight = "clamp(100 - demo_queue_depth / 4, 0, 100)"
maxconn = "clamp(200 - demo_queue_depth / 2, 1, 200)"
rise = 2
fall = 2
live_fall = 2
"""


@dataclass(slots=True)
class DemoWorker:
    """The simulated worker: pure, advanced by the caller's clock.

    Jobs arrive at ``arrivals`` per second; the worker completes up to ``capacity`` per second
    while it is not stuck. Busy phase: arrivals exceed capacity. Stuck: nothing completes.
    Recovery: capacity climbs back slowly, draining the queue.
    """

    started: float
    now: float = 0.0
    queue: float = 5.0
    jobs: float = 0.0
    last_iteration: float = 0.0

    def __post_init__(self) -> None:
        self.now = self.started
        self.last_iteration = self.started

    def phase(self, at: float) -> str:
        into = (at - self.started) % CYCLE
        if into < HEALTHY_UNTIL:
            return "healthy"
        if into < BUSY_UNTIL:
            return "busy"
        if into < STUCK_UNTIL:
            return "stuck"
        return "recovering"

    def advance(self, now: float, step: float = 0.1) -> None:
        while self.now + step <= now:
            self.now += step
            self._tick(step)

    def _tick(self, dt: float) -> None:
        phase = self.phase(self.now)
        arrivals = {"healthy": 40.0, "busy": 80.0, "stuck": 20.0, "recovering": 40.0}[phase]
        if phase == "recovering":
            into = (self.now - self.started) % CYCLE - STUCK_UNTIL
            capacity = min(100.0, 20.0 + 15.0 * into)  # slowly back to full speed
        else:
            capacity = {"healthy": 60.0, "busy": 60.0, "stuck": 0.0}[phase]
        self.queue += arrivals * dt
        done = min(self.queue, capacity * dt)
        if done > 0:
            self.queue -= done
            self.jobs += done
            self.last_iteration = self.now

    def page(self, now: float, wall: float) -> bytes:
        """The worker's /metrics at ``now`` (monotonic); timestamps in wall-clock seconds."""
        self.advance(now)
        last = wall - (now - self.last_iteration)
        return (
            "# HELP demo_last_iteration_timestamp_seconds When the worker last completed a job.\n"
            "# TYPE demo_last_iteration_timestamp_seconds gauge\n"
            f"demo_last_iteration_timestamp_seconds {last:.3f}\n"
            "# HELP demo_jobs_processed_total Jobs completed.\n"
            "# TYPE demo_jobs_processed_total counter\n"
            f"demo_jobs_processed_total {int(self.jobs)}\n"
            "# HELP demo_queue_depth Jobs waiting.\n"
            "# TYPE demo_queue_depth gauge\n"
            f"demo_queue_depth {int(self.queue)}\n"
        ).encode()


async def serve_worker(worker: DemoWorker) -> tuple[web.AppRunner, str]:
    """Serve one worker's /metrics on 127.0.0.1 (an ephemeral port); return the runner and URL."""

    async def metrics(_request: web.Request) -> web.Response:
        return web.Response(body=worker.page(time.monotonic(), time.time()), content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/metrics"


def describe(state: TargetState) -> str:
    """One terminal line for a target state."""
    flags = " ".join(
        [
            "live " if state.live else "DEAD ",
            "ready    " if state.serving else "NOT READY",
            "warn" if state.warn else "    ",
        ]
    )
    maxconn = f"maxconn {state.maxconn:>3}" if state.maxconn is not None else ""
    return f"{state.name:<9} {state.level.value:<10} {flags}  weight {state.weight:>3}  {maxconn}  {state.reason}"


async def run(duration: float | None, out: TextIO | None = None) -> int:
    from healthgauge.agent._config import parse_config
    from healthgauge.agent._run import Agent
    from healthgauge.agent.commands._cmd import production_engine

    stream = out or sys.stdout

    def write(text: str) -> None:
        stream.write(text)
        stream.flush()

    start = time.monotonic()
    workers = {"worker-a": DemoWorker(start), "worker-b": DemoWorker(start - 14.0)}
    runners, urls = [], {}
    for name, worker in workers.items():
        runner, urls[name] = await serve_worker(worker)
        runners.append(runner)
    engine = production_engine()
    config = parse_config(CONFIG.format(urls=", ".join(f'"{n}" = "{u}"' for n, u in urls.items())), engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Agent(config, engine) as agent:
            http = agent.addresses["http"]
            write(f"demo workers: {', '.join(f'{n} {u}' for n, u in urls.items())}\n")
            write(f"agent: http://{http}/readyz?verbose  http://{http}/health/worker-a  http://{http}/metrics\n")
            write(f"admin: healthgauge ctl drain worker-a --admin {agent.addresses['admin']}\n\n")
            shown: dict[str, tuple[object, ...]] = {}

            def on_change(_old: TargetState, new: TargetState) -> None:
                key = (new.level, new.live, new.serving, new.warn, new.weight // 10, new.reason.split(":")[0])
                if shown.get(new.name) != key:
                    shown[new.name] = key
                    write(f"{time.monotonic() - start:6.1f}s  {describe(new)}\n")

            agent.hub.subscribe(on_change)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), duration)
            write("\nstopping\n")
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        for runner in runners:
            await runner.cleanup()
    return EXIT_OK


def main(args: list[str]) -> int:
    duration: float | None = None
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("-h", "--help"):
            print(__doc__)
            return EXIT_OK
        if arg == "--duration" or arg.startswith("--duration="):
            value = arg.partition("=")[2] or (rest.pop(0) if rest else "")
            try:
                duration = float(value)
            except ValueError:
                duration = -1.0
            if not duration > 0:
                print(f"healthgauge demo: --duration needs a number of seconds, got {value!r}", file=sys.stderr)
                return EXIT_USAGE
        else:
            print(f"healthgauge demo: unknown argument {arg!r} (usage: healthgauge demo [--duration SECONDS])")
            return EXIT_USAGE
    return asyncio.run(run(duration))
