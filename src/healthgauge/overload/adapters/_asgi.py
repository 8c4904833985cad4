"""Pure ASGI middleware (no Starlette needed): admission, queueing and shedding for ``http`` scopes,
``lifespan`` to start and stop the guard, everything else passed through (spec §9)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from time import perf_counter
from typing import Any

from healthgauge.overload._controller import AdmissionController
from healthgauge.overload._http import Response
from healthgauge.overload._types import Outcome
from healthgauge.overload.adapters._ending import ending, settled
from healthgauge.overload.adapters._guard import Metered, OverloadGuard, Queued

__all__ = ["OverloadMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Exchange:
    """What the wrapped app did (the status it started, whether the client went away), watched
    through its ``receive`` and ``send``. ``send`` is a plain method that returns the server's own
    awaitable (no coroutine of ours per message); ``timed_send``, for a metered handler
    (``OverloadGuard.run``), also times the server's writing, which a 503 would cost too."""

    __slots__ = ("_guard", "_receive", "_send", "disconnected", "status", "weight")

    def __init__(self, receive: Receive, send: Send, guard: OverloadGuard, weight: int) -> None:
        self._receive = receive
        self._send = send
        self._guard = guard
        self.weight = weight
        self.status: int | None = None
        self.disconnected = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.disconnect":
            self.disconnected = True
        return message

    def send(self, message: Message) -> Awaitable[None]:
        if self.status is None and message["type"] == "http.response.start":
            self.status = int(message["status"])
        return self._send(message)

    async def timed_send(self, message: Message) -> None:
        # The time the server takes to write the answer counts as the handler's (it runs inside
        # its step) but a 503 would cost it too: the guard deducts it from what shedding saves.
        if self.status is None and message["type"] == "http.response.start":
            self.status = int(message["status"])
        t0 = perf_counter()
        try:
            await self._send(message)
        finally:
            self._guard.sending += (perf_counter() - t0) * self.weight


class OverloadMiddleware:
    """``OverloadMiddleware(app, controller, **guard_options)`` or ``OverloadMiddleware(app, guard=guard)``
    (the options are :class:`OverloadGuard`'s).

    The guard's metrics join the app's prometheus_client registry (the default one unless
    ``registry=`` says otherwise), so the app's own ``/metrics`` serves them. ``metrics_path``, for an
    app that serves no metrics, answers scrapes of that registry at that path; a path the app serves
    itself is refused at lifespan startup (``lifespan.startup.failed`` with the reason: uvicorn logs
    it and exits), never shadowed. ``on_started(middleware)`` runs after lifespan startup (tests and
    tools read the responder's port there). Servers that do not run ``lifespan`` get the guard
    started lazily by the first request, without the SIGTERM drain or the path check.
    """

    def __init__(
        self,
        app: ASGIApp,
        controller: AdmissionController | None = None,
        *,
        guard: OverloadGuard | None = None,
        metrics_path: str | None = None,
        on_started: Callable[[OverloadMiddleware], None] | None = None,
        **options: Any,
    ) -> None:
        self.app = app
        self.guard = guard if guard is not None else OverloadGuard(controller, **options)
        self.metrics_path = metrics_path
        self.on_started = on_started
        self._started = False

    @property
    def responder(self) -> Any:
        return self.guard.responder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)  # websocket: passed through (spec §9)

    async def _startup(self) -> None:
        if not self._started:
            self._started = True
            await self.guard.start()
            if self.on_started is not None:
                self.on_started(self)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def receive_hooked() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self._startup()
            return message

        async def send_hooked(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                await self.guard.stop()
            elif message["type"] == "lifespan.startup.complete" and self.metrics_path is not None:
                status = await _app_status(self.app, self.metrics_path)
                if status is not None and status != 404:
                    await self.guard.stop()
                    message = {"type": "lifespan.startup.failed", "message": _shadow_error(self.metrics_path, status)}
            await send(message)

        try:
            await self.app(scope, receive_hooked, send_hooked)
        except Exception:
            # An app without lifespan support raises here; the server then runs without lifespan
            # and the first request starts the guard.
            await self.guard.stop()
            self._started = False
            raise

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One request: a scan of its headers for the few the policy reads (none: nothing is
        parsed), admission, and either the app (its ``send`` watched for the status) or a refusal
        whose headers were built once per kind and load."""
        t0 = perf_counter()
        guard = self.guard
        if not self._started:
            self._started = True
            guard.handle_sigterm = False
            await guard.start()
        path: str = scope.get("path", "")
        if path == self.metrics_path:
            await self._serve_metrics(send)
            return
        keys = guard.policy.header_keys
        found: dict[str, str] | None = None
        for name, value in scope.get("headers", ()):
            if name in keys:
                if found is None:
                    found = {}
                found[name.decode("latin-1")] = value.decode("latin-1")
        admitted = guard.admit(scope.get("method", "GET"), path, None if found is None else found.get)
        admission = await guard.wait(admitted) if isinstance(admitted, Queued) else admitted
        if admission.response is not None:
            await _send_response(send, admission.response)
            guard.note_reject(perf_counter() - t0)
            return
        permit = admission.permit
        if permit is None:  # a bypass route, or monitor-only past a rejection
            await self.app(scope, receive, send)
            return
        ex = _Exchange(receive, send, guard, guard.metering())
        weight = ex.weight
        try:
            work: Awaitable[None] = self.app(scope, ex.receive, ex.timed_send if weight else ex.send)
            if weight:  # a sampled handler: its steps timed (OverloadGuard.run)
                work = Metered(work, guard, weight) if isinstance(work, Coroutine) else work
            left = guard.deadline_left(admission) if guard.cancel_at_deadline else None
            if left is None:
                await work
            else:
                async with asyncio.timeout(left):
                    await work
        except (Exception, asyncio.CancelledError) as exc:
            if isinstance(exc, OSError):
                ex.disconnected = True  # uvicorn's ClientDisconnected is an OSError
            end = ending(exc, ex.status, guard)
            try:
                if end.reraise:
                    raise
                if end.response is not None:
                    await _send_response(send, end.response)
            finally:
                guard.finish(admission, settled(end.outcome, disconnected=ex.disconnected), status=end.status)
        except BaseException:
            guard.finish(admission, settled(Outcome.SUCCESS, disconnected=ex.disconnected), status=ex.status)
            raise
        else:
            status = ex.status
            if status is not None and status >= 500:
                guard.counters.server_errors += 1
            if not permit.done:
                if ex.disconnected:
                    permit.ignore()
                else:
                    permit.success()

    async def _serve_metrics(self, send: Send) -> None:
        from healthgauge.overload.adapters._metrics import render

        registry = self.guard.registry
        body, content_type = render(None if registry is None or registry is False else registry)
        headers = ((b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode()))
        await _send_response(send, Response(200, headers, body))


async def _send_response(send: Send, response: Response) -> None:
    await send({"type": "http.response.start", "status": response.status, "headers": list(response.headers)})
    await send({"type": "http.response.body", "body": response.body})


def _shadow_error(path: str, status: int) -> str:
    return (
        f"healthgauge: metrics_path={path!r} is a route the application serves itself (GET {path} answered"
        f" {status}); the middleware would hide it. Drop metrics_path: healthgauge_overload_* join the"
        " application's prometheus_client registry and appear on its own metrics page."
    )


async def _app_status(app: ASGIApp, path: str) -> int | None:
    """The status ``app`` answers ``GET path`` with (None: no answer within 5 s, or it raised)."""
    status: list[int] = []
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("latin-1", "replace"),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"localhost"), (b"user-agent", b"healthgauge-startup-check")],
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
        "state": {},
    }
    sent_request = False

    async def receive() -> Message:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)  # the app reads past the body: it waits for a disconnect
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            status.append(int(message["status"]))

    try:
        async with asyncio.timeout(5):
            await app(scope, receive, send)
    except Exception:
        return status[0] if status else None
    return status[0] if status else None
