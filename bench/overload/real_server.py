"""One server of the real-server benchmark (``real.py``): a stack, a handler and a policy.

    python bench/overload/real_server.py --stack httptools --handler cpu --policy default

Stacks: ``h11`` (uvicorn, h11 + asyncio), ``httptools`` (uvicorn, httptools + uvloop), ``aiohttp``
(aiohttp's own server on asyncio, ``setup_aiohttp``). Handlers on ``GET /work``:

- ``sleep``: ``await asyncio.sleep(0.02)`` (a downstream call, no CPU of ours);
- ``cpu``: ~3 ms of pure-Python CPU, no await;
- ``mixed``: ``await asyncio.sleep(0.02)`` then ~2 ms of CPU;
- ``dep``: ``await asyncio.sleep(dep)`` then ~0.5 ms of CPU; ``dep`` is 20 ms until a control
  request sets it (the dependency that becomes 10× slower while the CPU idles);
- ``trivial``: answers at once (the middleware's own cost).

Policies: ``none`` (bare app), ``default`` (``OverloadMiddleware(app)`` / ``setup_aiohttp(app)``
with their defaults, as a new user writes them), ``fixed`` (``FixedLimit(--fixed)``), ``gradient2``
and ``aimd`` (Netflix's, windowed, their defaults), ``legacy`` (the 0.x default: queue-delay AIMD
from 16 with loop lag and sloughing, for the before/after comparison), ``stable`` (the default
without its growth test, ``LoopDelayLimit(min_rise=0)``: the default before it), ``monitor`` (the
default in monitor-only mode: it decides and counts, never sheds; what the detector sees on an
unprotected server), ``acceptq`` (the default also judging the kernel's accept queue,
``LoopDelayLimit(min_queue_growth=8)``), ``skip`` (the default skipping requests whose client has
gone while the loop is late, ``LoopDelayLimit(skip_gone=True)``), ``gone`` (that, and entering
overload on that work for no one, ``LoopDelayLimit(min_gone_share=0.25)``), ``early`` (the
default with its early refusal: on uvicorn ``http=early_refusal(middleware, stack)``, as the README
shows it); and, to split the middleware's
cost: ``passthru`` (a middleware that does nothing: what the stack charges for having one) and
``noprobe`` (the default without its loop probe, hence without the accept-queue reads:
``loop_lag=False``).

Bench routes under ``/healthz/bench/`` (bypassed by every policy, as health routes are):
``start`` (zero the trajectory clock), ``dep?s=0.2``, ``trajectory`` (JSON samples every 100 ms:
``[t, limit, inflight, rejected, admitted, win_min_ms, busy_share, reject_cost_us]``) and ``cpu``
(this process's CPU seconds).
The socket is bound here on port 0 and the port printed as one ``READY {json}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

HANDLERS = ("sleep", "cpu", "mixed", "dep", "trivial")
STACKS = ("h11", "httptools", "aiohttp")
POLICIES = (
    "none",
    "default",
    "fixed",
    "gradient2",
    "aimd",
    "legacy",
    "stable",
    "monitor",
    "acceptq",
    "early",
    "gone",
    "skip",
)
POLICIES += ("passthru", "noprobe")
MAX_SAMPLES = 20_000  # 100 ms samples: over half an hour


def burn(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU in Python bytecode."""
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for i in range(50):
            x += i * i


class Work:
    """The handler's behaviour, shared by the ASGI and aiohttp front ends."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.dep = 0.02

    async def run(self) -> None:
        kind = self.kind
        if kind == "sleep":
            await asyncio.sleep(0.02)
        elif kind == "cpu":
            burn(0.003)
        elif kind == "mixed":
            await asyncio.sleep(0.02)
            burn(0.002)
        elif kind == "dep":
            await asyncio.sleep(self.dep)
            burn(0.0005)


class Bench:
    """The bench routes and the 100 ms trajectory of the policy's controller."""

    def __init__(self, work: Work, out: str | None = None) -> None:
        self.work = work
        self.out = out  # where the trajectory is written every second (a saturated server answers late)
        self.written = 0.0
        self.t0 = time.monotonic()
        self.samples: list[list[float]] = []
        self.controller: Any = None
        self.guard: Any = None
        self.probes: list[tuple[float, ...]] | None = None  # --probe-log
        self.decisions: list[tuple[float, str, float, int]] = []  # --probe-log

    def log_probes(self) -> None:
        """Record every loop-probe sample the guard sees: (t, lag, busy, steps, inflight, runs,
        this process's CPU seconds, the accept queue, the limit's state after the sample: 0 calm,
        1 overloaded, 2 release probe), and every admission decision (:meth:`log_decisions`)."""
        guard, ctl = self.guard, self.controller
        on_sample = guard.probe.on_sample
        self.probes = probes = []
        backlog = guard.accept_queue

        def logged(lag: float) -> None:
            t = round(time.monotonic() - self.t0, 4)
            busy, steps, runs = round(guard.busy, 4), guard.steps, guard.runs
            on_sample(lag)
            if len(probes) < 50 * MAX_SAMPLES:
                cpu = round(time.process_time(), 5)
                queued = backlog.read(time.monotonic()) if backlog is not None else None
                limit = ctl.limit
                state = 1 if limit.overloaded else 2 if limit.statistics().details.get("probing") else 0
                probes.append((t, round(lag, 4), busy, steps, ctl.inflight, runs, cpu, queued or 0, state))

        guard.probe.on_sample = logged
        self.log_decisions()

    def log_decisions(self) -> None:
        """Record every decision the guard takes outside its calm path: (t, kind, lag the decision
        read, stale) with kind "admit", "refuse" (at handler start, through the server's parser)
        or "early" (before the parser), and stale 1 when the loop probe was not overdue, i.e. the
        decision read its last sample rather than how late the loop is now (real_decisions.py)."""
        from healthgauge.overload.adapters import _early

        guard, probe = self.guard, self.guard.probe
        self.decisions = decisions = []
        enter_fast, answer = guard.enter_fast, _early.EarlyRefusal.answer
        early = [False]

        def note(kind: str, now: float) -> None:
            if len(decisions) < 500 * MAX_SAMPLES:
                overdue = now - probe._due
                lag = overdue if overdue > probe.latest else probe.latest
                decisions.append((round(now - self.t0, 5), kind, round(lag, 5), int(overdue <= 0)))

        def entered(method: str, path: str) -> Any:
            now = time.monotonic()
            admitted = enter_fast(method, path)
            if not early[0] and "/bench/" not in path:
                note("refuse" if getattr(admitted, "response", None) is not None else "admit", now)
            return admitted

        def answered(refusal: Any, data: bytes, *args: Any) -> bytes | None:
            now = time.monotonic()
            early[0] = True
            try:
                wire = answer(refusal, data, *args)
            finally:
                early[0] = False
            if wire is not None:
                note("early", now)
            return wire

        guard.enter_fast = entered
        _early.EarlyRefusal.answer = answered  # this bench process only

    def sample(self) -> None:
        c = self.controller
        if c is not None and len(self.samples) < MAX_SAMPLES:
            st = c.statistics()
            details = st.limit_statistics.details
            self.samples.append(
                [
                    round(time.monotonic() - self.t0, 3),
                    st.limit if math.isfinite(st.limit) else -1,
                    st.inflight,
                    sum(st.rejected.values()),
                    st.admitted,
                    round(1000 * details.get("win_min", st.win_min), 2),
                    round(details.get("busy_share", -1), 3),
                    round(1e6 * self.guard.reject_cost, 1) if self.guard is not None else 0,
                    {k: round(v, 4) for k, v in details.items()}
                    | self.refusals(st.rejected)
                    | {"abandoned": getattr(st, "abandoned", 0)},
                ]
            )
        now = time.monotonic()
        if self.out is not None and now - self.written >= 1.0:
            self.written = now
            with open(self.out + ".tmp", "w") as f:  # a few kB once a second
                probes = {"samples": self.samples, "probes": self.probes, "t0": self.t0, "decisions": self.decisions}
                json.dump(self.samples if self.probes is None else probes, f)
            os.replace(self.out + ".tmp", self.out)
        asyncio.get_running_loop().call_later(0.1, self.sample)

    def refusals(self, rejected: Any) -> dict[str, int]:
        """Refusals so far by reason, and how many were answered before the HTTP parser."""
        # getattr: an earlier revision's guard (closed_ab.py --before) has no early refusal
        early = getattr(self.guard.counters, "early_refused", 0) if self.guard is not None else 0
        return {f"rejected_{k}": v for k, v in rejected.items() if v} | {"early_refused": early}

    def route(self, path: str, query: str) -> bytes:
        if path.endswith("/start"):
            self.t0 = time.monotonic()
            self.samples.clear()
            if self.probes is not None:
                self.probes.clear()
                self.decisions.clear()
            return b"{}"
        if path.endswith("/dep"):
            self.work.dep = float(query.partition("=")[2] or 0.02)
            return b"{}"
        if path.endswith("/trajectory"):
            return json.dumps(self.samples).encode()
        if path.endswith("/cpu"):
            return json.dumps({"cpu": time.process_time()}).encode()
        return b"{}"


def controller_for(policy: str, fixed: int, limit_set: dict[str, float] | None = None) -> Any:
    """The ``AdmissionController`` of a policy (``None``: the middleware's own default);
    ``limit_set``: keyword arguments for the default's ``LoopDelayLimit`` (a design aid)."""
    from healthgauge.overload import (
        AdmissionController,
        AIMDLimit,
        FixedLimit,
        Gradient2Limit,
        LoopDelayLimit,
        QueueDelayLimit,
        WindowedLimit,
    )

    if policy == "fixed":
        return AdmissionController(FixedLimit(fixed))
    if policy == "gradient2":
        return AdmissionController(WindowedLimit(Gradient2Limit()))
    if policy == "aimd":
        return AdmissionController(WindowedLimit(AIMDLimit()))
    if policy == "legacy":
        return AdmissionController(QueueDelayLimit())  # the 0.x default (spec §2.4 as shipped)
    if policy == "skip":
        return AdmissionController(LoopDelayLimit(skip_gone=True))  # skips requests of clients gone
    if policy == "gone":
        return AdmissionController(LoopDelayLimit(min_gone_share=0.25))  # also enters on gone clients
    if policy == "acceptq":
        return AdmissionController(LoopDelayLimit(min_queue_growth=8))  # also judges the accept queue
    if policy == "stable":
        return AdmissionController(LoopDelayLimit(min_rise=0))  # the default without its growth test
    if limit_set and policy in ("default", "monitor"):
        return AdmissionController(LoopDelayLimit(**limit_set), monitor_only=policy == "monitor")
    return None


def guard_options(policy: str) -> dict[str, Any]:
    return {"handle_sigterm": False, "monitor_only": policy == "monitor", "loop_lag": policy != "noprobe"}


def passthru_asgi(app: Any) -> Any:
    """An ASGI middleware that does nothing (policy ``passthru``)."""

    async def passthru(scope: Scope, receive: Receive, send: Send) -> None:
        await app(scope, receive, send)

    return passthru


def asgi_app(work: Work, bench: Bench) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    headers = [(b"content-type", b"text/plain"), (b"content-length", b"3")]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path.startswith("/healthz/bench/"):
            body = bench.route(path, scope.get("query_string", b"").decode())
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await work.run()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ok\n"})

    return app


def bind() -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio and uvloop set TCP_NODELAY only on sockets whose proto says TCP;
    # with proto 0 every keep-alive answer written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    sock.set_inheritable(True)
    return sock


def ready(sock: socket.socket) -> None:
    sys.stdout.write("READY " + json.dumps({"http": sock.getsockname()[1], "pid": os.getpid()}) + "\n")
    sys.stdout.flush()


async def serve_uvicorn(args: argparse.Namespace, sock: socket.socket) -> None:
    import uvicorn

    work = Work(args.handler)
    bench = Bench(work, args.trajectory)
    app: Any = asgi_app(work, bench)
    if args.policy == "passthru":
        app = passthru_asgi(app)
    elif args.policy != "none":
        from healthgauge.overload import OverloadMiddleware

        controller = controller_for(args.policy, args.fixed, args.limit_set)
        mw = OverloadMiddleware(app, controller, **guard_options(args.policy))
        bench.controller, bench.guard = mw.guard.controller, mw.guard
        app = mw
        if args.probe_log:
            bench.log_probes()
    h11 = args.stack == "h11"
    http: Any = "h11" if h11 else "httptools"
    if args.policy == "early":
        from healthgauge.overload import early_refusal

        http = early_refusal(app, http)
    config = uvicorn.Config(
        app,
        http=http,
        log_level="warning",
        access_log=False,
        lifespan="on",
        backlog=4096,
        timeout_keep_alive=30,
        limit_concurrency=None,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline and not task.done():  # noqa: ASYNC110 - no event
        await asyncio.sleep(0.01)
    bench.sample()
    ready(sock)
    await task


async def serve_aiohttp(args: argparse.Namespace, sock: socket.socket) -> None:
    from aiohttp import web

    work = Work(args.handler)
    bench = Bench(work, args.trajectory)

    async def handle(request: web.Request) -> web.Response:
        await work.run()
        return web.Response(body=b"ok\n", content_type="text/plain")

    async def bench_route(request: web.Request) -> web.Response:
        return web.Response(body=bench.route(request.path, request.query_string), content_type="application/json")

    app = web.Application()
    app.router.add_get("/work", handle)
    app.router.add_get("/healthz/bench/{name}", bench_route)
    if args.policy == "passthru":

        @web.middleware
        async def passthru(request: web.Request, handler: Any) -> web.StreamResponse:
            response: web.StreamResponse = await handler(request)
            return response

        app.middlewares.append(passthru)
    elif args.policy != "none":
        from healthgauge.overload import setup_aiohttp

        controller = controller_for(args.policy, args.fixed, args.limit_set)
        guard = setup_aiohttp(app, controller, **guard_options(args.policy))
        bench.controller, bench.guard = guard.controller, guard
        if args.probe_log:
            bench.log_probes()
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=30)
    await runner.setup()
    site = web.SockSite(runner, sock, backlog=4096)
    await site.start()
    bench.sample()
    ready(sock)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stack", choices=STACKS, default="httptools")
    p.add_argument("--handler", choices=HANDLERS, default="sleep")
    p.add_argument("--policy", choices=POLICIES, default="default")
    p.add_argument("--fixed", type=int, default=32, help="the fixed policy's limit")
    p.add_argument("--trajectory", help="write the 100-ms trajectory to this file every second")
    p.add_argument(
        "--probe-log", action="store_true", help="write every loop-probe sample and decision with the trajectory"
    )
    p.add_argument("--limit-set", nargs="*", default=[], help="the default's LoopDelayLimit keyword=value (design aid)")
    args = p.parse_args(argv)
    args.limit_set = {k: float(v) for k, v in (item.split("=", 1) for item in args.limit_set)}
    sock = bind()
    if args.stack == "aiohttp":
        asyncio.run(serve_aiohttp(args, sock))
    elif args.stack == "httptools":
        import uvloop

        # uvicorn's ``loop="uvloop"`` applies only in ``Server.run()``; ``serve()`` runs on the loop
        # it is given, so the httptools stack must be started on uvloop here (it ran on asyncio
        # until issue #11's fourth round).
        uvloop.run(serve_uvicorn(args, sock))
    else:
        asyncio.run(serve_uvicorn(args, sock))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
