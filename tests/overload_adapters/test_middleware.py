"""One conformance suite for both middlewares (ASGI through httpx's ASGITransport, aiohttp through
its test server on loopback): identical semantics are the contract (spec §9, §10.2-10.3)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry

from healthgauge.overload import (
    AdmissionController,
    DownstreamOverloaded,
    FixedLimit,
    Outcome,
    OverloadGuard,
    OverloadMiddleware,
    QueueOrder,
    RequestPolicy,
    WaitQueue,
    setup_aiohttp,
)


class Control:
    """Handlers the tests steer: ``/hold/NAME`` waits for :meth:`release`; ``/fail`` raises;
    ``/downstream`` raises DownstreamOverloaded; ``/slow`` sleeps 2 s; anything else is 200."""

    def __init__(self) -> None:
        self.events: dict[str, asyncio.Event] = {}
        self.calls: list[str] = []

    def event(self, name: str) -> asyncio.Event:
        return self.events.setdefault(name, asyncio.Event())

    def release(self, name: str) -> None:
        self.event(name).set()

    async def handle(self, path: str) -> tuple[int, bytes]:
        self.calls.append(path)
        if path.startswith("/hold/"):
            await asyncio.wait_for(self.event(path[6:]).wait(), 5)
        elif path == "/fail":
            raise RuntimeError("handler failed")
        elif path == "/downstream":
            raise DownstreamOverloaded()
        elif path == "/slow":
            await asyncio.sleep(2)
        return 200, b"ok"


Reply = tuple[int, dict[str, str]]


class Client:
    def __init__(self, get: Callable[[str, dict[str, str]], Any], guard: OverloadGuard, control: Control) -> None:
        self._get = get
        self.guard = guard
        self.control = control
        self.body = b""

    async def get(self, path: str, **headers: str) -> Reply:
        return await self._get(path, {k.replace("_", "-"): v for k, v in headers.items()})  # type: ignore[no-any-return]

    def spawn(self, path: str, **headers: str) -> asyncio.Task[Reply]:
        return asyncio.create_task(self.get(path, **headers))


@contextlib.asynccontextmanager
async def asgi_client(guard: OverloadGuard, control: Control) -> AsyncIterator[Client]:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        status, body = await control.handle(scope["path"])
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": body})

    wrapped = OverloadMiddleware(app, guard=guard, metrics_path="/metrics")
    transport = httpx.ASGITransport(app=wrapped, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:

        async def get(path: str, headers: dict[str, str]) -> Reply:
            r = await http.get(path, headers=headers)
            client.body = r.content
            return r.status_code, {k.lower(): v for k, v in r.headers.items()}

        client = Client(get, guard, control)
        yield client
    await guard.stop()


@contextlib.asynccontextmanager
async def aiohttp_client(guard: OverloadGuard, control: Control) -> AsyncIterator[Client]:
    async def handler(request: web.Request) -> web.Response:
        status, body = await control.handle(request.path)
        return web.Response(status=status, body=body)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handler)
    setup_aiohttp(app, guard=guard, metrics_path="/metrics")
    async with TestClient(TestServer(app, host="127.0.0.1", port=0)) as http:

        async def get(path: str, headers: dict[str, str]) -> Reply:
            async with http.get(path, headers=headers) as r:
                client.body = await r.read()
                return r.status, {k.lower(): v for k, v in r.headers.items()}

        client = Client(get, guard, control)
        yield client


KINDS = {"asgi": asgi_client, "aiohttp": aiohttp_client}


def make_guard(
    *, limit: int = 16, queue: int | None = 8, max_wait: float = 0.1, monitor_only: bool = False, **options: Any
) -> OverloadGuard:
    """A fixed limit and (unless ``queue`` is None) a FIFO queue of ``queue`` entries whose
    timeout is ``max_wait`` whether or not it is standing, so tests control waits exactly."""
    wait_queue = None
    if queue is not None:
        wait_queue = WaitQueue(
            capacity=queue, capacity_ratio=None, order=QueueOrder.FIFO, standing_timeout=max_wait, idle_timeout=max_wait
        )
    controller = AdmissionController(FixedLimit(limit), queue=wait_queue, monitor_only=monitor_only)
    options.setdefault("registry", CollectorRegistry())  # each guard its own: tests share one process
    return OverloadGuard(controller, monitor_only=monitor_only, handle_sigterm=False, loop_lag=False, **options)


def inflight(c: Client) -> int:
    return c.guard.controller.inflight


def queued(c: Client) -> int:
    queue = c.guard.controller.queue
    return 0 if queue is None else len(queue)


def rejected(c: Client) -> dict[str, int]:
    return {k: v for k, v in c.guard.controller.statistics().rejected.items() if v}


def completed(c: Client) -> dict[str, int]:
    return dict(c.guard.controller.statistics().completed)


@pytest.fixture(params=sorted(KINDS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@contextlib.asynccontextmanager
async def serve(kind: str, **core: Any) -> AsyncIterator[Client]:
    guard = make_guard(**core)
    async with KINDS[kind](guard, Control()) as client:
        yield client


async def wait_for(predicate: Callable[[], bool]) -> None:
    """Poll a condition the handlers cannot signal (the core's counters), for at most 2 s."""
    async with asyncio.timeout(2.0):
        while not predicate():  # noqa: ASYNC110 - the core is sans-I/O: there is no event to wait on
            await asyncio.sleep(0.005)


async def test_admits_and_completes(kind: str) -> None:
    async with serve(kind) as c:
        status, _ = await c.get("/ok")
        assert status == 200
        assert completed(c)["success"] == 1
        assert inflight(c) == 0


async def test_sheds_at_the_limit_with_hints(kind: str) -> None:
    async with serve(kind, limit=1, queue=None) as c:
        held = c.spawn("/hold/a")
        await wait_for(lambda: inflight(c) == 1)
        status, headers = await c.get("/ok")
        assert status == 503
        assert headers["retry-after"] in ("1", "2")
        assert headers["healthgauge-overload"] == "shed"
        assert c.control.calls == ["/hold/a"]  # the app never saw the shed request
        c.control.release("a")
        assert (await held)[0] == 200
        assert rejected(c) == {"limit": 1}


async def test_a_retry_is_told_not_to_retry(kind: str) -> None:
    async with serve(kind, limit=1, queue=None) as c:
        held = c.spawn("/hold/a")
        await wait_for(lambda: inflight(c) == 1)
        status, headers = await c.get("/ok", healthgauge_attempt="1")
        assert status == 503
        assert headers["healthgauge-overload"] == "no-retry"
        c.control.release("a")
        await held


async def test_waits_in_the_queue_then_runs(kind: str) -> None:
    async with serve(kind, limit=1, queue=1, max_wait=2.0) as c:
        first = c.spawn("/hold/a")
        await wait_for(lambda: inflight(c) == 1)
        second = c.spawn("/ok")
        await wait_for(lambda: queued(c) == 1)
        c.control.release("a")
        assert (await first)[0] == 200
        assert (await second)[0] == 200
        assert inflight(c) == 0
        assert queued(c) == 0


async def test_active_expiry_answers_503(kind: str) -> None:
    async with serve(kind, limit=1, queue=4, max_wait=0.05) as c:
        held = c.spawn("/hold/a")
        await wait_for(lambda: inflight(c) == 1)
        status, headers = await asyncio.wait_for(c.get("/ok"), 2)
        assert status == 503
        assert headers["healthgauge-overload"] == "shed"
        assert rejected(c) == {"expired": 1}
        c.control.release("a")
        await held


async def test_expired_deadline_is_504_without_retry_hint(kind: str) -> None:
    async with serve(kind) as c:
        status, headers = await c.get("/ok", healthgauge_timeout="0")
        assert status == 504
        assert "retry-after" not in headers
        assert headers["healthgauge-overload"] == "no-retry"
        assert c.control.calls == []


async def test_deadline_from_a_trusted_request_start(kind: str) -> None:
    policy = RequestPolicy(request_start_header="x-request-start")
    async with serve(kind, policy=policy) as c:
        status, _ = await c.get("/ok", x_request_start="t=1000000000", healthgauge_timeout="500")
        assert status == 504
        assert (await c.get("/ok", healthgauge_timeout="500"))[0] == 200


async def test_deadline_expires_while_queued(kind: str) -> None:
    async with serve(kind, limit=1, queue=4, max_wait=5.0) as c:
        held = c.spawn("/hold/a")
        await wait_for(lambda: inflight(c) == 1)
        status, _ = await asyncio.wait_for(c.get("/ok", healthgauge_timeout="60"), 2)
        assert status == 504
        c.control.release("a")
        await held


async def test_critical_evicts_sheddable_from_a_full_queue(kind: str) -> None:
    async with serve(kind, limit=1, queue=1, max_wait=2.0) as c:
        held = c.spawn("/hold/a")
        await wait_for(lambda: inflight(c) == 1)
        low = c.spawn("/ok", healthgauge_criticality="SHEDDABLE")
        await wait_for(lambda: queued(c) == 1)
        high = c.spawn("/ok", healthgauge_criticality="CRITICAL_PLUS")
        status, _ = await asyncio.wait_for(low, 2)
        assert status == 503
        assert rejected(c) == {"priority": 1}
        c.control.release("a")
        assert (await high)[0] == 200
        await held


async def test_bypass_routes_never_wait(kind: str) -> None:
    async with serve(kind, limit=1, queue=None) as c:
        held = c.spawn("/hold/a")
        await wait_for(lambda: inflight(c) == 1)
        assert (await c.get("/healthz"))[0] == 200
        assert c.guard.counters.bypassed == 1
        c.control.release("a")
        await held


async def test_handler_error_releases_the_permit(kind: str) -> None:
    async with serve(kind, count_server_errors=True) as c:
        assert (await c.get("/fail"))[0] == 500
        assert inflight(c) == 0
        assert c.guard.counters.server_errors == 1
        assert completed(c)["success"] == 1  # the server did the work


async def test_the_calm_path_counts_and_ends_as_a_permit_does(kind: str) -> None:
    """Without a queue, below the limit, the common request is admitted by counting only
    (``enter_calm``, none of them timed here): the ending ladder, the 5xx count and the outcomes
    are those of the permit path above."""
    async with serve(kind, queue=None, count_server_errors=True) as c:
        assert (await c.get("/ok"))[0] == 200  # the ASGI middleware starts its guard here
        c.guard.stride = 1_000
        before = c.guard.controller.statistics().completed["success"]
        assert c.guard.controller.calm
        assert (await c.get("/ok"))[0] == 200
        assert (await c.get("/fail"))[0] == 500
        status, headers = await c.get("/downstream")
        assert (status, headers["healthgauge-overload"]) == (503, "no-retry")
        st = c.guard.controller.statistics()
        assert st.admitted == 4
        assert st.completed == {"success": before + 2, "dropped": 1, "ignored": 0}
        assert c.guard.counters.server_errors == 1
        assert inflight(c) == 0


async def test_server_errors_are_counted_only_when_asked(kind: str) -> None:
    """Off by default (the ASGI middleware would watch every send for it): nothing counts and the
    metric is not exported, rather than a count of some of the 5xx answers."""
    async with serve(kind, queue=None) as c:
        assert (await c.get("/ok"))[0] == 200
        assert (await c.get("/fail"))[0] == 500
        assert c.guard.counters.server_errors == 0
        assert completed(c)["success"] == 2
        names = {family.name for family in c.guard.registry.collect()}
        assert "healthgauge_overload_admitted" in names
        assert "healthgauge_overload_server_errors" not in names


async def test_downstream_overload_is_dropped_and_not_retried(kind: str) -> None:
    async with serve(kind) as c:
        status, headers = await c.get("/downstream")
        assert status == 503
        assert headers["healthgauge-overload"] == "no-retry"
        assert "retry-after" in headers
        assert completed(c)["dropped"] == 1
        assert inflight(c) == 0


async def test_cancel_at_deadline(kind: str) -> None:
    async with serve(kind, cancel_at_deadline=True) as c:
        status, _ = await c.get("/slow", healthgauge_timeout="50")
        assert status == 504
        assert completed(c)["dropped"] == 1
        assert inflight(c) == 0


async def test_monitor_only_serves_everything_and_counts(kind: str) -> None:
    async with serve(kind, limit=1, queue=None, monitor_only=True) as c:
        held = c.spawn("/hold/a")
        await wait_for(lambda: inflight(c) == 1)
        assert (await c.get("/ok"))[0] == 200
        c.control.release("a")
        await held
        assert (await c.get("/metrics"))[0] == 200
        assert c.guard.controller.statistics().would_reject["limit"] == 1
        assert 'healthgauge_overload_would_shed_total{reason="limit"} 1.0' in c.body.decode()


async def test_monitor_only_guard_sheds_nothing_whatever_the_core_says(kind: str) -> None:
    controller = AdmissionController(FixedLimit(1))  # enforcing, no queue
    guard = OverloadGuard(controller, monitor_only=True, handle_sigterm=False, loop_lag=False, registry=False)
    async with KINDS[kind](guard, Control()) as c:
        held = c.spawn("/hold/a")
        await wait_for(lambda: inflight(c) == 1)
        assert (await c.get("/ok"))[0] == 200
        assert (await c.get("/ok", healthgauge_timeout="0"))[0] == 200
        assert guard.counters.would_shed == {"limit": 1, "deadline": 1}
        c.control.release("a")
        await held
        assert inflight(c) == 0


async def test_metrics_endpoint(kind: str) -> None:
    async with serve(kind, limit=7, queue=None) as c:
        held = c.spawn("/hold/a")
        await wait_for(lambda: inflight(c) == 1)
        await c.get("/ok", healthgauge_criticality="sheddable")
        status, headers = await c.get("/metrics")
        assert status == 200
        assert headers["content-type"].startswith("text/plain")
        text = c.body.decode()
        assert "healthgauge_overload_limit 7.0" in text
        assert "healthgauge_overload_in_flight 1.0" in text
        assert "healthgauge_overload_admitted_total 2.0" in text
        c.control.release("a")
        await held
        await c.get("/metrics")
        assert "healthgauge_overload_in_flight 0.0" in c.body.decode()


async def test_cancelled_waiter_leaves_the_queue() -> None:
    guard = make_guard(limit=1, queue=2, max_wait=5.0)
    control = Control()
    async with asgi_client(guard, control) as c:
        held = c.spawn("/hold/a")
        await wait_for(lambda: inflight(c) == 1)
        waiter = c.spawn("/ok")
        await wait_for(lambda: queued(c) == 1)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert queued(c) == 0
        control.release("a")
        await held
        assert inflight(c) == 0
        assert completed(c) == {"success": 1, "dropped": 0, "ignored": 0}


async def test_finish_is_exactly_once() -> None:
    guard = make_guard(limit=2)
    admission = await guard.enter("GET", "/x", {}.get)
    assert guard.controller.inflight == 1
    guard.finish(admission, Outcome.SUCCESS)
    guard.finish(admission, Outcome.DROPPED)
    assert guard.controller.inflight == 0
    assert guard.controller.statistics().completed == {"success": 1, "dropped": 0, "ignored": 0}


async def test_lifespan_starts_and_stops_the_responder_and_websocket_passes() -> None:
    seen: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["type"])
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                kind = message["type"].split(".")[1]
                await send({"type": f"lifespan.{kind}.complete"})
                if kind == "shutdown":
                    return

    middleware = OverloadMiddleware(
        app, agent_port=0, agent_warmup=0, handle_sigterm=False, loop_lag=True, registry=CollectorRegistry()
    )
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: list[str] = []
    await inbox.put({"type": "lifespan.startup"})

    async def send(message: dict[str, str]) -> None:
        outbox.append(message["type"])

    task = asyncio.create_task(middleware({"type": "lifespan"}, inbox.get, send))
    await wait_for(lambda: outbox == ["lifespan.startup.complete"])
    responder = middleware.responder
    assert responder is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", responder.port)
    line = await asyncio.wait_for(reader.readline(), 2)
    assert line.startswith(b"up ready ")
    assert line.endswith(b"%\n") or b" maxconn:" in line
    writer.close()
    await middleware({"type": "websocket"}, inbox.get, send)
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(task, 2)
    assert outbox[-1] == "lifespan.shutdown.complete"
    assert middleware.responder is None
    assert seen == ["lifespan", "websocket"]


async def test_works_as_starlette_middleware() -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def hello(request: Any) -> PlainTextResponse:
        return PlainTextResponse("hi")

    guard = make_guard(limit=1, queue=None)
    app = Starlette(routes=[Route("/", hello)], middleware=[Middleware(OverloadMiddleware, guard=guard)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/")).text == "hi"
        assert (await http.get("/", headers={"healthgauge-timeout": "0"})).status_code == 504
    assert guard.controller.statistics().admitted == 1


async def test_cost_counts_and_every_refusal_carries_the_load(kind: str) -> None:
    """The broker's contract (owners.md): ``Healthgauge-Cost`` counts against the limit, and a 503
    tells the worker's load in agent-check words the broker's parser reads."""
    async with serve(kind, limit=2, queue=None) as c:
        held = c.spawn("/hold/a", healthgauge_cost="2")
        await wait_for(lambda: c.guard.controller.inflight_cost == 2)
        c.guard.refresh_load()  # the loop probe does this every 10 ms; these guards run without it
        status, headers = await c.get("/ok")
        assert status == 503
        words = headers["healthgauge-load"].split()
        assert words[:2] == ["up", "ready"]
        assert words[2].endswith("%")
        assert 10 <= int(words[2][:-1]) <= 100
        assert words[3:] == ["maxconn:2", "inflight:2"]
        status, _ = await c.get("/ok", healthgauge_cost="junk")  # a bad cost falls back to 1: still full
        assert status == 503
        assert c.guard.counters.header_errors == 1
        c.control.release("a")
        assert (await held)[0] == 200
        status, headers = await c.get("/ok", healthgauge_cost="1.5")
        assert status == 200
        assert "healthgauge-load" not in headers  # only refusals carry it


async def test_metrics_join_the_default_registry_and_leave_it_at_stop() -> None:
    from prometheus_client import REGISTRY, generate_latest

    guard = make_guard(limit=7, queue=None, registry=None)
    await guard.start()
    try:
        assert b"healthgauge_overload_limit 7.0" in generate_latest(REGISTRY)
    finally:
        await guard.stop()
    assert b"healthgauge_overload_limit" not in generate_latest(REGISTRY)
    own = CollectorRegistry()
    guard = make_guard(limit=5, queue=None, registry=own)
    await guard.start()
    try:
        assert b"healthgauge_overload_limit 5.0" in generate_latest(own)
        assert b"healthgauge_overload_limit" not in generate_latest(REGISTRY)
    finally:
        await guard.stop()


async def test_an_explicit_metrics_path_the_app_serves_is_refused_at_startup() -> None:
    """ASGI: the lifespan startup fails with the reason (uvicorn logs it and exits)."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        status = 200 if scope["path"] == "/metrics" else 404
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"app_state 1\n"})

    sent: list[dict[str, Any]] = []
    inbox: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return inbox.pop(0) if inbox else {"type": "lifespan.shutdown"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    for path, expected in (("/metrics", "lifespan.startup.failed"), ("/overload-metrics", "lifespan.startup.complete")):
        wrapped = OverloadMiddleware(app, metrics_path=path, handle_sigterm=False, loop_lag=False, registry=False)
        inbox[:] = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        sent.clear()
        await wrapped({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
        assert sent[0]["type"] == expected
        if path == "/metrics":
            assert "metrics_path='/metrics' is a route the application serves itself" in sent[0]["message"]


async def test_aiohttp_refuses_a_metrics_path_the_app_serves() -> None:
    async def own(_: web.Request) -> web.Response:
        return web.Response(text="app_state 1\n")

    app = web.Application()
    app.router.add_get("/metrics", own)
    setup_aiohttp(app, metrics_path="/metrics", handle_sigterm=False, loop_lag=False, registry=False)
    server = TestServer(app, host="127.0.0.1", port=0)
    try:
        with pytest.raises(RuntimeError, match="metrics_path='/metrics' is a route the application serves itself"):
            await server.start_server()
    finally:
        await server.close()
