"""Pure ASGI middleware (no Starlette needed): admission, queueing and shedding for ``http`` scopes,
``lifespan`` to start and stop the guard, everything else passed through (spec §9)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from time import perf_counter
from types import MethodType
from typing import Any

from healthgauge.overload._controller import AdmissionController, CalmTally
from healthgauge.overload._http import Classified, Response
from healthgauge.overload._permit import Permit
from healthgauge.overload._types import Criticality, Outcome
from healthgauge.overload.adapters._ending import ending, settled
from healthgauge.overload.adapters._gone import UVICORN_CYCLES, cycle_gone, drop_cycle
from healthgauge.overload.adapters._guard import Admission, Metered, OverloadGuard, Queued, RouteMemo
from healthgauge.overload.adapters._uvicorn import ConnectionSwitch

__all__ = ["OverloadMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# The status of a response that started unwatched (``OverloadMiddleware._adopt``): not None, so
# no 503 follows it; below 500, so nothing counts it (nothing counts where nothing is watched).
UNWATCHED = 0


def _readable_cycle(send: Send) -> type | None:
    """The class of the request cycle ``send`` is a method of, when it is one of uvicorn's and
    still keeps both flags as booleans (else None: a later version that drops them is watched)."""
    owner = getattr(send, "__self__", None)
    kind = type(owner)
    if kind.__module__ not in UVICORN_CYCLES or getattr(send, "__name__", None) != "send":
        return None
    flags = (getattr(owner, "response_started", None), getattr(owner, "disconnected", None))
    return kind if all(isinstance(flag, bool) for flag in flags) else None


class _Exchange:
    """What the wrapped app did (the status it started, whether the client went away), watched
    through its ``receive`` and ``send``: the only per-request object besides the permit. ``send``
    is a plain method that returns the server's own awaitable (no coroutine of ours per message).
    The status says whether a 503 may still be sent when the handler fails after it started
    answering (and feeds ``server_errors`` when counted)."""

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
        # Decided once (structlog's habit): what the per-request path reads.
        policy, controller = self.guard.policy, self.guard.controller
        self._keys = policy.header_keys
        self._routes = RouteMemo(policy, metrics_path)
        self._calm_paths, self._judge = self._routes.calm, self._routes.judge
        # The counts a calm admission writes inline (CalmTally's contract). Where no request may
        # be admitted calm here, a tally of its own that is never calm: a default criticality
        # below CRITICAL (enter_fast then decides by a call what enter_calm would have), or a
        # guard that cancels handlers at their deadline (_serve arms the timeout).
        calm_here = policy.default_criticality >= Criticality.CRITICAL and not self.guard.cancel_at_deadline
        self._tally = controller.tally if calm_here else CalmTally()
        self._controller = controller
        self._switch = ConnectionSwitch(self)  # a refused uvicorn connection's next refusals: early
        # The server's request-cycle class whose state stands in for watching (_adopt), once decided.
        self._cycle: type | None = None
        self._cycle_decided = False

    @property
    def responder(self) -> Any:
        return self.guard.responder

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        else:
            await self.app(scope, receive, send)  # websocket: passed through (spec §9)

    async def _startup(self) -> None:
        if not self._routes.started:
            self._routes.started = True
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
            self._routes.started = False
            raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One request. The common one (the guard started, none of the policy's headers, not a
        bypass route, the controller calm, not picked for timing) is run here, in this coroutine
        (another per request costs ~0.3 µs): admitted by counting, inline on the controller's
        tally (``CalmTally``: ``enter_calm`` without the call, no clock read),
        the app called with the server's own ``receive`` and ``send`` where the server's request
        cycle can tell afterwards what a watch would have seen (:meth:`_adopt`: uvicorn), else
        through :meth:`_watched`; completed once, on the tally too. Every other request, other
        scopes too, takes :meth:`_serve`. While the loop is late (``watch_gone``) a request
        whose client has already gone is neither (:meth:`_abandoned`)."""
        if self._controller.watch_gone and self._abandoned(send):
            return
        seq = 0
        plain = False
        if scope["type"] == "http":
            path: str = scope["path"]  # "path", "method" and "headers" are required in an http scope
            plain = path in self._calm_paths or self._judge(scope["method"], path)
            if plain:
                keys = self._keys  # any of the headers the policy reads? (a loop: ~45 ns a header,
                for name, _ in scope["headers"]:  # less than keys.isdisjoint(map(...)) up to 10)
                    if name in keys:
                        plain = False
                        break
                else:
                    t = self._tally  # a calm admission, inline (CalmTally's contract)
                    n = t.inflight
                    if n < t.below:
                        t.inflight = n + 1
                        if n >= t.peak:
                            t.peak = n + 1
                        seq = t.admitted = t.admitted + 1
        if not seq or not seq % self.guard.stride:
            await self._serve(scope, receive, send, plain, seq)
            return
        method: Any = send  # a bound method of the server's request cycle, when it can be read
        cycle: Any
        if type(method) is not MethodType or type(cycle := method.__self__) is not self._cycle:
            if not self._adopt(send):
                await self._watched(scope, receive, send)
                return
            cycle = method.__self__
        try:
            await self.app(scope, receive, send)
        except BaseException as exc:  # rare: what a watch would have known, read from the cycle
            if await self._failed(exc, send, UNWATCHED if cycle.response_started else None, cycle.disconnected, None):
                raise
            return
        t.inflight -= 1  # completed (CalmTally's contract)
        if cycle.disconnected:
            self._controller.gone_calm()

    def _adopt(self, send: Send) -> bool:
        """Whether calm requests may run unwatched, decided once, at the first: when ``send`` is
        a method of a server request cycle that keeps ``response_started`` and ``disconnected``
        (:func:`_readable_cycle`) and no status is counted (``count_server_errors``), its class is
        remembered and every calm request whose ``send`` belongs to one runs with the server's
        own callables: no watch, ~3 % of a trivial answer on uvicorn + httptools (issue #11).
        A failing handler reads ``response_started`` instead of a watched status (a 503 may
        answer only before a response started) and a completed one ``disconnected`` (the client
        went away before the whole answer: ``ignored``)."""
        if self._cycle_decided:
            return False
        self._cycle_decided = True
        if not self.guard.count_server_errors:
            self._cycle = _readable_cycle(send)
        return self._cycle is not None

    async def _watched(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A calm request on a server whose request cycle cannot be read (or with
        ``count_server_errors``): the app's ``send`` watched for the status (the count, and whether
        a 503 can still follow a failure) and its ``receive`` for the client going away, through
        one plain function that returns the server's own awaitable: one closure per request, no
        coroutine per message sent, none for receiving unless the app receives (each costs ~0.3 µs
        on a trivial handler's ~17)."""
        guard = self.guard
        status: int | None = None
        gone = False

        def relay(message: Message | None = None) -> Awaitable[Any]:
            nonlocal status
            if message is None:

                async def listened() -> Message:
                    nonlocal gone
                    received = await receive()
                    if received["type"] == "http.disconnect":
                        gone = True
                    return received

                return listened()
            if status is None and message["type"] == "http.response.start":
                status = message["status"]
            return send(message)

        try:
            await self.app(scope, relay, relay)
        except BaseException as exc:
            if await self._failed(exc, send, status, gone, None):
                raise
            return
        if status is not None and status >= 500 and guard.count_server_errors:
            guard.counters.server_errors += 1
        self._tally.inflight -= 1  # completed (CalmTally's contract)
        if gone:
            self._controller.gone_calm()

    def _abandoned(self, send: Send) -> bool:
        """While the loop is late (``watch_gone``): the request's client has already gone (module
        ``_gone``; uvicorn only). Then it is not run and not answered, only counted (``abandon``:
        the limit's evidence of work for no one): True."""
        cycle = cycle_gone(send)
        if cycle is None:
            return False
        drop_cycle(cycle)
        self._controller.abandon()
        return True

    async def _serve(self, scope: Scope, receive: Receive, send: Send, plain: bool, seq: int) -> None:
        """Any request but the calm, untimed one: ``seq`` (≠ 0) when it was admitted calm and is to
        be timed; else ``plain`` when it is on no bypass route and carries none of the policy's
        headers (admitted and started at one clock reading by ``OverloadGuard.enter_fast``,
        without a permit object in the common case); else it is admitted as before
        (:meth:`_admit`) and holds a permit. Then the app runs with its ``send`` and ``receive``
        watched, and the request is completed once."""
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        guard = self.guard
        path: str = scope.get("path", "")
        permit: Permit | None = None  # None: entered without one (enter_calm, enter_fast), completed by leave()
        c: Classified | None = None
        if seq:
            weight = guard.picked(seq)
        else:
            if plain:
                admitted = guard.enter_fast(scope.get("method", "GET"), path)
            else:
                admitted = await self._admit(scope, send, path)
                if admitted is None:
                    return  # the metrics page
            if admitted is not None:
                admission = await guard.wait(admitted) if isinstance(admitted, Queued) else admitted
                if admission.response is not None:
                    await _send_response(send, admission.response)
                    guard.note_reject(guard.clock() - admission.at)
                    self._switch(scope, send)
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
        except BaseException as exc:
            if await self._failed(exc, send, ex.status, ex.disconnected, permit):
                raise
            return
        if ex.disconnected:
            guard.controller.note_gone()
        guard.settle(permit, Outcome.IGNORED if ex.disconnected else Outcome.SUCCESS, status=ex.status)

    async def _failed(
        self, exc: BaseException, send: Send, status: int | None, gone: bool, permit: Permit | None
    ) -> bool:
        """The app raised ``exc``, having answered ``status`` so far (``None``: nothing sent;
        ``UNWATCHED``: a response started, its status not watched; ``gone``: the client went
        away): the outcome and the 503 that may answer in its place (the ladder of
        adapters/_ending.py), and the request completed once (its ``permit``; ``None``: entered
        without one). True: the caller re-raises ``exc``."""
        guard = self.guard
        if not isinstance(exc, Exception | asyncio.CancelledError):  # KeyboardInterrupt, SystemExit...
            guard.settle(permit, settled(Outcome.SUCCESS, disconnected=gone), status=status)
            return True
        if isinstance(exc, OSError):
            gone = True  # uvicorn's ClientDisconnected is an OSError
        end = ending(exc, status, guard)
        try:
            if not end.reraise and end.response is not None:
                await _send_response(send, end.response)
        finally:
            guard.settle(permit, settled(end.outcome, disconnected=gone), status=end.status)
        return end.reraise

    async def _admit(self, scope: Scope, send: Send, path: str) -> Admission | Queued | None:
        """Everything but the common request's admission: the lazy start, the metrics page (served
        here: None), a request with any of the policy's headers (parsed)."""
        guard = self.guard
        if not self._routes.started:
            self._routes.started = True
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
