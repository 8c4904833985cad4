"""The demo's workers: real HTTP servers exposing what a worker usually exposes (a progress
timestamp, a jobs counter and a queue depth), each running a cycle on its own: healthy, then its
queue builds up (warn, lower weight), then it gets stuck (no progress: the counter stalls, then the
timestamp grows old), then it slowly recovers and drains its queue. :data:`STORY` says, for each
phase, what happens and what the agent's rules make of it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from aiohttp import web

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
# last 2s while work waits, caught from an ordinary counter (a stuck worker still answers
# /metrics). Each number aggregates explicitly (max, sum): one number whatever the series.
live = ["time() - max(demo_last_iteration_timestamp_seconds) < 5"]
ready = ["sum(increase(demo_jobs_processed_total[2s])) > 0 or sum(demo_queue_depth) == 0"]
warn = ["max(demo_queue_depth) > 100"]
weight = "clamp(100 - max(demo_queue_depth) / 4, 0, 100)"
maxconn = "clamp(200 - max(demo_queue_depth) / 2, 1, 200)"
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


#: What each phase is, and what the rules above make of it: the story the demo tells on screen.
STORY = {
    "healthy": "completes jobs faster than they arrive: every rule holds, weight 100",
    "busy": "jobs arrive faster than it completes them: the queue grows, so the weight rule gives it "
    "a smaller share (degraded) and warn fires past 100 queued",
    "stuck": "still answers /metrics but completes nothing: `ready` fails (no job done in 2s while work "
    "waits) and after fall=2 checks it is NOT READY; after 5s without progress `live` fails: dead",
    "recovering": "completes jobs again: one good check makes it live, rise=2 make it ready; "
    "the weight climbs back as the queue drains",
}
