"""Small ASGI apps for the middleware's tests on real servers (uvicorn in the test's own loop)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, MutableMapping
from typing import Any

import uvicorn
from prometheus_client import CollectorRegistry

from healthgauge.overload import AdmissionController, OverloadMiddleware

Scope = MutableMapping[str, Any]


async def answer_lifespan(receive: Callable[..., Any], send: Callable[..., Any]) -> None:
    """Complete every lifespan message until shutdown (an app that has nothing to start)."""
    while True:
        message = await receive()
        await send({"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown":
            return


class HoldingApp:
    """``/hold`` waits for :attr:`release` (holding the guard's permit) at most ``wait`` seconds;
    anything else is 200. :attr:`seen` lists the paths it ran."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self.release = asyncio.Event()
        self.holding = asyncio.Event()
        self.seen: list[str] = []

    async def __call__(self, scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        self.seen.append(scope["path"])
        if scope["path"] == "/hold":
            self.holding.set()
            await asyncio.wait_for(self.release.wait(), self.wait)
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


class HoldingService:
    """uvicorn, in the test's own loop, serving ``OverloadMiddleware(HoldingApp(wait), controller)``
    on 127.0.0.1 at an ephemeral port. ``http``: uvicorn's protocol (a name or a class), or a
    function of the middleware giving it (``early_refusal``); ``outer``: an app wrapped around the
    middleware. Every wait is bounded by ``wait`` seconds."""

    def __init__(
        self,
        controller: AdmissionController,
        http: str | type | Callable[[OverloadMiddleware], type],
        wait: float,
        outer: Callable[[Any], Any] | None = None,
    ) -> None:
        self.wait = wait
        self.app = HoldingApp(wait)
        self.controller = controller
        self.mw = OverloadMiddleware(self.app, controller, handle_sigterm=False, registry=CollectorRegistry())
        protocol = http if isinstance(http, str | type) else http(self.mw)
        served: Any = self.mw if outer is None else outer(self.mw)
        config = uvicorn.Config(served, http=protocol, lifespan="on", log_level="warning", access_log=False)
        self.server = uvicorn.Server(config)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        async with asyncio.timeout(self.wait):
            while not self.server.started:  # noqa: ASYNC110 - uvicorn sets a flag, no event
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.app.release.set()
        self.server.should_exit = True
        if self.task is not None:
            async with asyncio.timeout(self.wait):
                await self.task
        self.sock.close()

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def hold(self) -> asyncio.StreamWriter:
        """A connection whose request holds the only permit, until ``app.release``."""
        _, writer = await self.connect()
        writer.write(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(self.wait):
            await self.app.holding.wait()
        return writer
