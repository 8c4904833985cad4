"""A service as the README shows it: a plain ASGI app with its own Prometheus metrics at /metrics,
wrapped in ``OverloadMiddleware(app)`` with every default, served by ``uvicorn.run``-style
startup (lifespan on, uvicorn's own signal handling).

    python uvicorn_service.py [--metrics-path PATH] [--uvloop]

``GET /work?io=S`` awaits S seconds; ``GET /metrics`` is the app's (prometheus_client's default
registry, which the middleware joins). Prints ``READY {"http": port}`` once serving.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
from typing import Any

import uvicorn
from prometheus_client import Gauge, make_asgi_app

from healthgauge.overload import OverloadMiddleware

APP_STATE = Gauge("app_state", "1 while the application is up")
metrics_app = make_asgi_app()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                APP_STATE.set(1)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/metrics":
        await metrics_app(scope, receive, send)
        return
    query = scope.get("query_string", b"").decode()
    if query.startswith("io="):
        await asyncio.sleep(min(30.0, float(query[3:])))
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"ok\n"})


def main(argv: list[str]) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--metrics-path")
    p.add_argument("--uvloop", action="store_true", help="run on uvloop (as uvicorn's loop='auto' picks it)")
    args = p.parse_args(argv)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    kwargs = {} if args.metrics_path is None else {"metrics_path": args.metrics_path}
    config = uvicorn.Config(OverloadMiddleware(app, **kwargs), log_level="info", access_log=False, lifespan="on")
    server = uvicorn.Server(config)

    async def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            await asyncio.sleep(0.01)
        print("READY " + json.dumps({"http": sock.getsockname()[1]}), flush=True)

    async def serve() -> None:
        announcer = asyncio.ensure_future(announce())
        await server.serve(sockets=[sock])
        announcer.cancel()

    if args.uvloop:
        import uvloop

        uvloop.run(serve())
    else:
        asyncio.run(serve())
    sys.exit(0 if server.started else 3)


if __name__ == "__main__":
    main(sys.argv[1:])
