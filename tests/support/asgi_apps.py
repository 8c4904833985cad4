"""Small ASGI apps for the middleware's tests on real servers (uvicorn in the test's own loop)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from typing import Any

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
