"""A worker for the broker: aiohttp with healthgauge's overload middleware, and a workload like
imgix's (the broker's tests and ``bench/broker`` run it; read it as the worker side of the README).

``python examples/broker/worker.py --name w1`` prints ``READY {"http": PORT, "agent": PORT}``.

- ``GET /img/{key}`` (cheap) and ``GET /pdf/{key}`` (expensive): work that takes ``--cheap-ms`` or
  ``--expensive-ms`` on one of ``--cores`` slots, ``--miss-factor`` times longer when ``key`` is
  not among the ``--cache`` keys this worker served last (an LRU: the data it has at hand).
  Answers ``X-Cache: hit|miss``. ``POST /reset`` empties the cache (between benchmark phases).
- ``GET /big?mb=N``: N MiB streamed in 64 KiB pieces (the broker must not buffer it).
- ``GET /hang``: never answers (until the deadline or the client gives up).
- ``GET /sleep?s=S``: holds a slot for S seconds.
- ``POST /echo``: reads the body as it comes and answers its length and a checksum.

The middleware admits at most ``--limit`` requests at once (FixedLimit, no queue) and refuses
the rest at once with 503 + ``Healthgauge-Overload: shed``: the broker's refusal. It reads the
broker's ``Healthgauge-Timeout`` as the request's deadline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from collections import OrderedDict

from aiohttp import web

from healthgauge.overload import AdmissionController, FixedLimit, setup_aiohttp


class Work:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.cores = asyncio.Semaphore(args.cores)
        self.cache: OrderedDict[str, None] = OrderedDict()
        self.served = 0

    def hit(self, key: str) -> bool:
        if key in self.cache:
            self.cache.move_to_end(key)
            return True
        self.cache[key] = None
        if len(self.cache) > self.args.cache:
            self.cache.popitem(last=False)
        return False

    async def img(self, request: web.Request) -> web.Response:
        args = self.args
        key = request.match_info["key"]
        expensive = request.path.startswith("/pdf/") or request.query.get("class") == "expensive"
        seconds = (args.expensive_ms if expensive else args.cheap_ms) / 1000
        async with self.cores:
            hit = self.hit(key)
            await asyncio.sleep(seconds if hit else seconds * args.miss_factor)
        self.served += 1
        headers = {"X-Cache": "hit" if hit else "miss", "X-Worker": args.name}
        return web.Response(text=f"{args.name} {key}\n", headers=headers)

    async def echo(self, request: web.Request) -> web.Response:
        size, total = 0, 0
        async for piece in request.content.iter_any():
            size += len(piece)
            total = (total + sum(piece)) % 1_000_003
        return web.Response(text=f"{size} {total}\n", headers={"X-Worker": self.args.name})

    async def reset(self, request: web.Request) -> web.Response:
        self.cache.clear()
        return web.Response(text="reset\n")

    async def big(self, request: web.Request) -> web.StreamResponse:
        size = int(float(request.query.get("mb", "1")) * 1024 * 1024)
        response = web.StreamResponse(headers={"X-Worker": self.args.name})
        response.content_length = size
        await response.prepare(request)
        piece = b"x" * 65536
        sent = 0
        while sent < size:
            part = piece[: size - sent]
            await response.write(part)
            sent += len(part)
        await response.write_eof()
        return response

    async def hang(self, request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response(text="late\n")

    async def sleep(self, request: web.Request) -> web.Response:
        await asyncio.sleep(min(30.0, float(request.query.get("s", "0"))))
        return web.Response(text=f"{self.args.name} slept\n", headers={"X-Worker": self.args.name})


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--name", default="w")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--limit", type=int, default=4, help="requests admitted at once (the middleware)")
    p.add_argument("--cores", type=int, default=4, help="requests worked on at once")
    p.add_argument("--cheap-ms", type=float, default=2.0)
    p.add_argument("--expensive-ms", type=float, default=200.0)
    p.add_argument("--miss-factor", type=float, default=3.0)
    p.add_argument("--cache", type=int, default=64, help="keys kept (LRU)")
    p.add_argument("--no-middleware", action="store_true", help="a plain worker: every request waits its turn")
    args = p.parse_args()
    work = Work(args)
    app = web.Application()
    app.router.add_get("/img/{key}", work.img)
    app.router.add_get("/pdf/{key}", work.img)
    app.router.add_post("/reset", work.reset)
    app.router.add_post("/echo", work.echo)
    app.router.add_get("/big", work.big)
    app.router.add_get("/hang", work.hang)
    app.router.add_get("/sleep", work.sleep)
    guard = None
    if not args.no_middleware:
        guard = setup_aiohttp(
            app, AdmissionController(FixedLimit(args.limit)), agent_port=0, agent_warmup=0, drain_grace=0.5,
        )  # fmt: skip
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    sock.listen(1024)  # connections wait in the backlog from the READY line on, before aiohttp serves

    async def announce(_: web.Application) -> None:
        agent = guard.responder.port if guard is not None and guard.responder is not None else None
        print("READY " + json.dumps({"http": sock.getsockname()[1], "agent": agent}), flush=True)

    app.on_startup.append(announce)
    # handler_cancellation: a broker that gives up on a request (its deadline) closes the connection,
    # and the work stops here too instead of holding a slot nobody waits for. The default asyncio
    # loop, not uvloop: the middleware's SIGTERM drain hands the signal back to aiohttp through
    # asyncio's own signal table, which uvloop does not have (the process would not exit).
    web.run_app(app, sock=sock, print=None, shutdown_timeout=1, handler_cancellation=True)


if __name__ == "__main__":
    main()
