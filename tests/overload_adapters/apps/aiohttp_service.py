"""An aiohttp service with healthgauge's middleware, run by web.run_app (its own SIGTERM handler).

Prints ``READY {"http": port, "agent": port}``; ``GET /work?io=S`` sleeps S seconds.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys

from aiohttp import web

from healthgauge.overload import AdmissionController, FixedLimit, WaitQueue, setup_aiohttp


async def work(request: web.Request) -> web.Response:
    await asyncio.sleep(min(10.0, float(request.query.get("io", "0"))))
    return web.Response(text="ok")


def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    app = web.Application()
    app.router.add_get("/work", work)
    guard = setup_aiohttp(
        app,
        AdmissionController(FixedLimit(8), queue=WaitQueue()),
        agent_port=0,
        agent_warmup=0,
        drain_grace=float(sys.argv[1]),
    )

    async def announce(_: web.Application) -> None:
        assert guard.responder is not None
        ports = {"http": sock.getsockname()[1], "agent": guard.responder.port}
        print("READY " + json.dumps(ports), flush=True)

    app.on_startup.append(announce)
    web.run_app(app, sock=sock, print=None, shutdown_timeout=10)


if __name__ == "__main__":
    main()
