"""The aiohttp middleware: the same admission, queueing, shedding and outcome mapping as the ASGI
one, through the same :class:`OverloadGuard` (spec §9). aiohttp exposes no accept timestamp, so
the receipt time is the clock at middleware entry; the loop-lag probe covers the gap."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from healthgauge.overload._controller import AdmissionController
from healthgauge.overload._ending import Ending, ending, settled
from healthgauge.overload._guard import OverloadGuard
from healthgauge.overload._http import Response
from healthgauge.overload._types import Outcome

__all__ = ["aiohttp_middleware", "setup_aiohttp"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _to_aiohttp(response: Response) -> web.Response:
    headers = {k.decode(): v.decode() for k, v in response.headers if k != b"content-length"}
    return web.Response(status=response.status, body=response.body, headers=headers)


def aiohttp_middleware(guard: OverloadGuard, *, metrics_path: str | None = None) -> Any:
    """An ``@web.middleware`` for ``web.Application(middlewares=[...])``; see :func:`setup_aiohttp`."""
    render: list[Callable[[], tuple[bytes, str]]] = []

    @web.middleware
    async def overload(request: web.Request, handler: Handler) -> web.StreamResponse:
        if metrics_path is not None and request.path == metrics_path:
            if not render:
                from healthgauge.overload._metrics import OverloadCollector

                render.append(OverloadCollector(guard).render)
            body, content_type = render[0]()
            return web.Response(body=body, headers={"Content-Type": content_type})
        headers = request.headers
        admission = await guard.enter(request.method, request.path, headers.get)
        if admission.response is not None:
            return _to_aiohttp(admission.response)
        if admission.bypass:
            return await handler(request)
        end = Ending(Outcome.SUCCESS, None)
        left = guard.deadline_left(admission)
        try:
            if left is None:
                response = await handler(request)
            else:
                async with asyncio.timeout(left):
                    response = await handler(request)
            end = ending(None, response.status, guard)
            return response
        except web.HTTPException as exc:  # aiohttp's way to answer: a response, not a failure
            end = ending(None, exc.status, guard)
            raise
        except (Exception, asyncio.CancelledError) as exc:  # the ladder: overload/_ending.py
            end = ending(exc, None, guard)
            if end.reraise or end.response is None:
                raise
            return _to_aiohttp(end.response)
        finally:
            transport = request.transport  # the client went away before the answer
            guard.finish(
                admission,
                settled(end.outcome, disconnected=transport is None or transport.is_closing()),
                status=end.status,
            )

    return overload


def setup_aiohttp(
    app: web.Application,
    controller: AdmissionController | None = None,
    *,
    guard: OverloadGuard | None = None,
    metrics_path: str | None = None,
    **options: Any,
) -> OverloadGuard:
    """Add the middleware to ``app`` (first, so it sees requests before anything else) and start
    and stop the guard with the app. Returns the guard."""
    guard = guard if guard is not None else OverloadGuard(controller, **options)
    app.middlewares.insert(0, aiohttp_middleware(guard, metrics_path=metrics_path))

    async def on_startup(_: web.Application) -> None:
        await guard.start()

    async def on_cleanup(_: web.Application) -> None:
        await guard.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return guard
