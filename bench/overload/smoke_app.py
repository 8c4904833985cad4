"""The smoke test's server (spec §12): one uvicorn worker on 127.0.0.1.

``GET /work`` awaits a sleep of ``--io`` seconds (a downstream call) and then burns ``--cpu``
seconds of this thread's CPU, so one core serves roughly ``1 / cpu`` requests a second.
``?io=S`` overrides the sleep for one request (the SIGTERM check uses a long one).

``--mode bare`` serves the app alone; ``protected`` wraps it in healthgauge's ASGI middleware
(the core's default controller: queue-delay AIMD limit and adaptive-LIFO queue; ``--limit N`` for
a fixed limit) with the agent-check responder on a second loopback port; ``monitor`` is the same
in monitor-only mode. The sockets are bound here on port 0 and the ports printed as one ``READY {json}`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def burn(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU (not wall time: a busy neighbour slows us, as it would)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def make_app(io: float, cpu: float) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
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
        if path == "/work":
            delay = io
            query = scope.get("query_string", b"")
            if query.startswith(b"io="):
                delay = min(30.0, float(query[3:]))
            if delay > 0:
                await asyncio.sleep(delay)
            burn(cpu)
            body = b"ok\n"
            status = 200
        elif path == "/healthz":
            body, status = b"ok\n", 200
        else:
            body, status = b"not found\n", 404
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    return app


def bind() -> socket.socket:
    # IPPROTO_TCP, not 0: asyncio and uvloop set TCP_NODELAY only on sockets whose proto says TCP;
    # with proto 0 every keep-alive answer written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def protect(app: Any, args: argparse.Namespace, ready: dict[str, Any]) -> Any:
    from healthgauge.overload import AdmissionController, FixedLimit, OverloadMiddleware, WaitQueue

    monitor = args.mode == "monitor"
    # Default: the core's default policy (queue-delay AIMD limit, adaptive-LIFO queue).
    limit = FixedLimit(args.limit) if args.limit else None
    controller = AdmissionController(limit, queue=WaitQueue(), monitor_only=monitor)
    return OverloadMiddleware(
        app,
        controller,
        monitor_only=monitor,
        agent_port=0,
        agent_warmup=args.warmup,
        drain_grace=args.grace,
        loop_lag=not args.no_loop_lag,
        metrics_path="/metrics",
        on_started=lambda m: ready.update(agent=m.responder.port if m.responder else None),
    )


async def serve(args: argparse.Namespace) -> None:
    sock = bind()
    ready: dict[str, Any] = {"http": sock.getsockname()[1], "pid": None}
    app: Any = make_app(args.io, args.cpu)
    if args.mode != "bare":
        app = protect(app, args, ready)
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=args.grace + 10,
        backlog=2048,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline and not task.done():  # noqa: ASYNC110 - uvicorn offers no event
        await asyncio.sleep(0.01)
    ready["pid"] = os.getpid()
    sys.stdout.write("READY " + json.dumps(ready) + "\n")
    sys.stdout.flush()
    await task


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--mode", choices=("bare", "protected", "monitor"), default="protected")
    p.add_argument("--io", type=float, default=0.02)
    p.add_argument("--cpu", type=float, default=0.002)
    p.add_argument("--warmup", type=float, default=0.0)
    p.add_argument("--grace", type=float, default=2.0)
    p.add_argument("--no-loop-lag", action="store_true", help="leave event-loop lag out of the queueing delay")
    p.add_argument("--limit", type=int, default=0, help="a fixed in-flight limit instead of the adaptive default")
    args = p.parse_args(argv)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
