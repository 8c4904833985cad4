"""The aiohttp middleware: the same admission, queueing, shedding and outcome mapping as the ASGI
one, through the same :class:`OverloadGuard` (spec §9). aiohttp exposes no accept timestamp, so
the receipt time is the clock at middleware entry; the loop-lag probe covers the gap."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from aiohttp import web

from healthgauge.overload._controller import AdmissionController, CalmTally
from healthgauge.overload._http import Classified, Response
from healthgauge.overload._permit import Permit
from healthgauge.overload._types import Criticality, Outcome
from healthgauge.overload.adapters._ending import Ending, ending, settled
from healthgauge.overload.adapters._gone import transport_gone
from healthgauge.overload.adapters._guard import Admission, Metered, OverloadGuard, Queued, RouteMemo

__all__ = ["aiohttp_middleware", "setup_aiohttp"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


_HEADERS: dict[int, tuple[Response, dict[str, str]]] = {}


def _to_aiohttp(response: Response) -> web.Response:
    """An aiohttp answer for a refusal; its headers decoded once per refusal kind and load."""
    hit = _HEADERS.get(id(response))
    if hit is None or hit[0] is not response:
        if len(_HEADERS) >= 64:
            _HEADERS.clear()
        hit = (response, {k.decode(): v.decode() for k, v in response.headers if k != b"content-length"})
        _HEADERS[id(response)] = hit
    return web.Response(status=response.status, body=response.body, headers=hit[1])


def _metrics_page(guard: OverloadGuard) -> web.Response:
    from healthgauge.overload.adapters._metrics import render

    registry = guard.registry
    body, content_type = render(None if registry is None or registry is False else registry)
    return web.Response(body=body, headers={"Content-Type": content_type})


def aiohttp_middleware(guard: OverloadGuard, *, metrics_path: str | None = None) -> Any:
    """An ``@web.middleware`` for ``web.Application(middlewares=[...])``; see :func:`setup_aiohttp`.

    The common request (not a bypass route, none of the policy's headers, the controller calm) is
    admitted by counting (``CalmTally``, inline: ``AdmissionController.enter_calm`` without the call)
    and completed the same way;
    one in ``guard.stride`` of them is timed. Any other takes the guard's full way in."""
    names = tuple(sorted(k.decode("latin-1") for k in guard.policy.header_keys))
    routes = RouteMemo(guard.policy, metrics_path)
    routes.started = True  # the app's startup starts the guard (setup_aiohttp); no lazy start here
    calm_paths, judge = routes.calm, routes.judge
    controller = guard.controller
    # The counts a calm admission writes inline (CalmTally's contract); where none may be admitted
    # calm (a default criticality below CRITICAL: enter_fast decides it by a call), a tally of
    # its own that is never calm.
    tally = controller.tally if guard.policy.default_criticality >= Criticality.CRITICAL else CalmTally()
    count_errors = guard.count_server_errors

    @web.middleware
    async def overload(request: web.Request, handler: Handler) -> web.StreamResponse:
        if controller.watch_gone and transport_gone(request.transport):
            return _abandoned(request, controller)
        path = request.path
        seq = 0
        plain = path in calm_paths or judge(request.method, path)
        if plain:
            headers = request.headers
            for name in names:
                if name in headers:
                    plain = False
                    break
            else:
                n = tally.inflight  # a calm admission, inline (CalmTally's contract)
                if n < tally.below:
                    tally.inflight = n + 1
                    if n >= tally.peak:
                        tally.peak = n + 1
                    seq = tally.admitted = tally.admitted + 1
        permit: Permit | None = None  # None: entered without one, completed by leave_calm / guard.leave
        c: Classified | None = None
        weight = 0
        if seq:
            if not seq % guard.stride:
                weight = guard.picked(seq)
        else:
            if metrics_path is not None and path == metrics_path:
                return _metrics_page(guard)
            admitted = _admit(guard, request, names, plain)
            if admitted is not None:
                admission = await guard.wait(admitted) if isinstance(admitted, Queued) else admitted
                if admission.response is not None:
                    answer = _to_aiohttp(admission.response)
                    guard.note_reject(guard.clock() - admission.at)
                    return answer
                if admission.bypass:
                    return await handler(request)
                permit, c = admission.permit, admission.classified
            weight = guard.metering()
        status: int | None = None
        end: Ending | None = None
        try:
            work: Awaitable[web.StreamResponse] = handler(request)
            if weight and isinstance(work, Coroutine):  # a sampled handler: its steps timed
                work = Metered(work, guard, weight)
            if guard.cancel_at_deadline:
                async with asyncio.timeout(guard.time_left(permit, c)):
                    response = await work
            else:
                response = await work
            status = response.status
            return response
        except web.HTTPException as exc:  # aiohttp's way to answer: a response, not a failure
            status = exc.status
            raise
        except (Exception, asyncio.CancelledError) as exc:  # the ladder: adapters/_ending.py
            end = ending(exc, None, guard)
            status = end.status
            if end.reraise or end.response is None:
                raise
            return _to_aiohttp(end.response)
        finally:
            transport = request.transport  # the client went away before the answer
            gone = transport is None or transport.is_closing()
            if gone:
                controller.note_gone()
            if permit is None and end is None:  # answered, entered without a permit: inline
                if count_errors and status is not None and status >= 500:
                    guard.counters.server_errors += 1
                if seq:
                    tally.inflight -= 1  # completed (CalmTally's contract)
                    if gone:
                        controller.gone_calm()
                else:
                    guard.controller.leave("ignored" if gone else "success")
            else:
                outcome = Outcome.SUCCESS if end is None else end.outcome
                guard.settle(permit, settled(outcome, disconnected=gone), status=status)

    return overload


def _abandoned(request: web.Request, controller: AdmissionController) -> web.StreamResponse:
    """A request whose client had gone before it ran (module ``_gone``): not run, counted
    (``abandon``), its connection closed (what aiohttp does once it reads the end-of-file).
    aiohttp cannot write the answer returned (a ``ConnectionError`` it handles) and logs it
    with 499, nginx's "client closed request"."""
    transport = request.transport
    if transport is not None:
        transport.close()
    controller.abandon()
    return web.Response(status=499)


def _admit(
    guard: OverloadGuard, request: web.Request, names: tuple[str, ...], plain: bool
) -> Admission | Queued | None:
    """A request the calm path did not take, admitted by the guard: ``plain`` (a calm route,
    none of the policy's headers) at one clock reading (``enter_fast``, ``None``: without a
    permit); else with its headers parsed when it carries any."""
    if plain:
        return guard.enter_fast(request.method, request.path)
    headers = request.headers
    if not any(name in headers for name in names):
        return guard.enter_fast(request.method, request.path)
    return guard.admit(request.method, request.path, headers.get)


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
    if guard.on_shutdown is None:
        guard.on_shutdown = _graceful_exit  # run_app's own SIGTERM handler, held by the loop
    app.middlewares.insert(0, aiohttp_middleware(guard, metrics_path=metrics_path))

    async def on_startup(_: web.Application) -> None:
        if metrics_path is not None:
            for resource in app.router.resources():
                if resource.canonical == metrics_path:
                    raise RuntimeError(
                        f"healthgauge: metrics_path={metrics_path!r} is a route the application serves itself;"
                        " the middleware would hide it. Drop metrics_path: healthgauge_overload_* join the"
                        " application's prometheus_client registry and appear on its own metrics page."
                    )
        await guard.start()

    async def on_cleanup(_: web.Application) -> None:
        await guard.stop()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return guard


def _graceful_exit() -> None:
    """What ``web.run_app``'s SIGTERM handler does: end ``run_app`` through its own cleanup."""
    raise web.GracefulExit()
