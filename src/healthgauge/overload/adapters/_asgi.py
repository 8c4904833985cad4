"""Pure ASGI middleware (no Starlette needed): admission, queueing and shedding for ``http`` scopes,
``lifespan`` to start and stop the guard, everything else passed through (spec §9)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from operator import itemgetter
from time import perf_counter
from typing import Any

from healthgauge.overload._controller import AdmissionController
from healthgauge.overload._http import Classified, Response
from healthgauge.overload._permit import Permit
from healthgauge.overload._types import Outcome
from healthgauge.overload.adapters._ending import ending, settled
from healthgauge.overload.adapters._guard import Admission, Metered, OverloadGuard, Queued

__all__ = ["OverloadMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_name = itemgetter(0)  # a header's name, from its (name, value) pair


class _Exchange:
    """What the wrapped app did (the status it started, whether the client went away), watched
    through its ``receive`` and ``send``: the only per-request object besides the permit. ``send``
    is a plain method that returns the server's own awaitable (no coroutine of ours per message).
    The status is needed on every request: the ``server_errors`` count, and whether a 503 may
    still be sent when the handler fails after it started answering."""

    __slots__ = ("_receive", "_send", "disconnected", "status")

    def __init__(self, receive: Receive, send: Send) -> None:
        self._receive = receive
        self._send = send
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


class _TimedExchange(_Exchange):
    """The exchange of a metered handler (``OverloadGuard.run``): its ``send`` also times the
    server's writing. That time counts as the handler's (it runs inside its step) but a 503 would
    cost it too: the guard deducts it from what shedding saves."""

    __slots__ = ("_guard", "_weight")

    def __init__(self, receive: Receive, send: Send, guard: OverloadGuard, weight: int) -> None:
        super().__init__(receive, send)
        self._guard = guard
        self._weight = weight

    async def send(self, message: Message) -> None:
        if self.status is None and message["type"] == "http.response.start":
            self.status = int(message["status"])
        t0 = perf_counter()
        try:
            await self._send(message)
        finally:
            self._guard.sending += (perf_counter() - t0) * self._weight


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

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One request (HTTP here, in this coroutine: another per request costs ~0.3 µs; other
        scopes in :meth:`_other`). The common one (the guard started, none of the policy's headers,
        not bypassed, below the limit) is admitted and started by one call and holds no object
        but the exchange (``OverloadGuard.enter_fast``); any other is admitted as before
        (:meth:`_admit`) and holds a permit. Then the app runs with its ``send`` watched for the
        status, and the request is completed once."""
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        guard = self.guard
        path: str = scope.get("path", "")
        # A C-level scan (no bytecode per header) for any of the headers the policy reads.
        if (
            self._started
            and path != self.metrics_path
            and guard.policy.header_keys.isdisjoint(map(_name, scope.get("headers", ())))
        ):
            admitted = guard.enter_fast(scope.get("method", "GET"), path)
        else:
            admitted = await self._admit(scope, send, path)
            if admitted is None:
                return  # the metrics page
        permit: Permit | None = None  # None: entered without one (enter_fast), completed by leave()
        c: Classified | None = None
        if admitted is not None:
            admission = await guard.wait(admitted) if isinstance(admitted, Queued) else admitted
            if admission.response is not None:
                await _send_response(send, admission.response)
                guard.note_reject(guard.clock() - admission.at)
                return
            permit, c = admission.permit, admission.classified
            if permit is None:  # a bypass route, or monitor-only past a rejection
                await self.app(scope, receive, send)
                return
        weight = guard.metering()
        ex = _TimedExchange(receive, send, guard, weight) if weight else _Exchange(receive, send)
        try:
            work: Awaitable[None] = self.app(scope, ex.receive, ex.send)
            if weight and isinstance(work, Coroutine):  # a sampled handler: its steps timed (OverloadGuard.run)
                work = Metered(work, guard, weight)
            if guard.cancel_at_deadline:
                async with asyncio.timeout(guard.time_left(permit, c)):
                    await work
            else:
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
                guard.settle(permit, settled(end.outcome, disconnected=ex.disconnected), status=end.status)
        except BaseException:
            guard.settle(permit, settled(Outcome.SUCCESS, disconnected=ex.disconnected), status=ex.status)
            raise
        else:
            status = ex.status
            if status is not None and status >= 500:
                guard.counters.server_errors += 1
            if permit is None:
                guard.controller.leave("ignored" if ex.disconnected else "success")
            elif not permit.done:
                if ex.disconnected:
                    permit.ignore()
                else:
                    permit.success()

    async def _admit(self, scope: Scope, send: Send, path: str) -> Admission | Queued | None:
        """Everything but the common request's admission: the lazy start, the metrics page (served
        here: None), a request with any of the policy's headers (parsed)."""
        guard = self.guard
        if not self._started:
            self._started = True
            guard.handle_sigterm = False
            await guard.start()
        if path == self.metrics_path:
            await self._serve_metrics(send)
            return None
        keys = guard.policy.header_keys
        found: dict[str, str] | None = None
        for name, value in scope.get("headers", ()):
            if name in keys:
                if found is None:
                    found = {}
                found[name.decode("latin-1")] = value.decode("latin-1")
        return guard.admit(scope.get("method", "GET"), path, None if found is None else found.get)

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
