"""The ASGI middleware's per-request path (issue #11, its cost): what it skips must not change what
it does. Called in memory (no server, no timing): the app's status and the client's going away
are still seen, 503s are built once but sent as fresh messages, metering is sampled without bias,
and the headers are parsed only when one is present."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from healthgauge.overload import AdmissionController, FixedLimit, OverloadGuard, OverloadMiddleware
from healthgauge.overload.adapters._guard import METER_ALL, METER_MAX_STRIDE

Message = dict[str, Any]


def guard(**options: Any) -> OverloadGuard:
    # With a loop probe (never started here: the tests feed ``_on_lag`` by hand), as metering needs.
    return OverloadGuard(handle_sigterm=False, registry=CollectorRegistry(), **options)


def scope(path: str = "/work", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": path, "headers": headers or [(b"host", b"x")]}


async def call(app: Any, s: dict[str, Any], incoming: list[Message] | None = None) -> list[Message]:
    sent: list[Message] = []
    queue = list(incoming or [{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> Message:
        return queue.pop(0) if queue else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(s, receive, send)
    return sent


def answering(status: int, *, read_twice: bool = False) -> Any:
    async def app(s: Any, receive: Any, send: Any) -> None:
        if read_twice:
            await receive()
            await receive()  # the client has gone: http.disconnect
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    return app


async def test_the_status_the_app_answers_is_seen_without_wrapping_each_send() -> None:
    g = guard()
    mw = OverloadMiddleware(answering(503), guard=g)
    sent = await call(mw, scope())
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert g.counters.server_errors == 1  # the app's own 5xx, counted exactly once
    assert g.controller.statistics().completed == {"success": 1, "dropped": 0, "ignored": 0}
    await call(mw, scope())
    assert g.counters.server_errors == 2


async def test_a_client_that_went_away_is_no_latency_sample() -> None:
    g = guard()
    mw = OverloadMiddleware(answering(200, read_twice=True), guard=g)
    await call(mw, scope())
    assert g.controller.statistics().completed == {"success": 0, "dropped": 0, "ignored": 1}


async def test_headers_are_read_when_present_and_defaults_apply_when_not() -> None:
    g = guard(controller=AdmissionController(FixedLimit(1)))
    hold: list[Any] = []

    async def app(s: Any, receive: Any, send: Any) -> None:
        hold.append(s)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mw = OverloadMiddleware(app, guard=g)
    await call(mw, scope())  # no healthgauge header: admitted with the defaults
    sent = await call(mw, scope(headers=[(b"host", b"x"), (b"healthgauge-timeout", b"0")]))
    assert sent[0]["status"] == 504  # the header was read: its deadline had passed
    sent = await call(mw, scope(headers=[(b"healthgauge-cost", b"junk")]))
    assert sent[0]["status"] == 200
    assert g.counters.header_errors == 1
    assert len(hold) == 2


async def test_refusals_are_fresh_messages_that_an_outer_middleware_may_change() -> None:
    g = guard()
    g.controller.set_draining(True)
    g.refresh_load()
    mw = OverloadMiddleware(answering(200), guard=g)

    async def outer(s: Any, receive: Any, send: Any) -> None:
        async def stamping(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"].append((b"x-outer", b"1"))  # as CORS or tracing middlewares do
            await send(message)

        await mw(s, receive, stamping)

    first = await call(outer, scope())
    second = await call(outer, scope())
    for sent in (first, second):
        assert sent[0]["status"] == 503
        names = [k for k, _ in sent[0]["headers"]]
        assert names.count(b"x-outer") == 1, names  # not piled up across refusals
        assert b"retry-after" in names
        assert b"healthgauge-load" in names
        assert sent[1]["body"] == b"overloaded\n"
    assert dict(second[0]["headers"])[b"healthgauge-load"].startswith(b"up drain")


async def test_metering_is_sampled_without_bias() -> None:
    g = guard()
    weights = [g.metering() for _ in range(METER_ALL - 1)]
    assert weights == [1] * (METER_ALL - 1)  # a quiet interval: every handler timed
    g._on_lag(0.0)  # the probe closes an interval that started few handlers
    assert g.metering() == 1
    for _ in range(8 * METER_ALL):
        g.metering()
    g._on_lag(0.0)  # a busy one (8 x METER_ALL + 1 starts): from now on one in 8, counted 8 times
    n = 10 * 8
    weights = [g.metering() for _ in range(n)]
    assert sum(weights) == n
    assert sum(1 for w in weights if w) == n // 8
    assert g.runs == n  # every start is counted, metered or not


async def test_nothing_is_metered_without_a_loop_probe() -> None:
    g = guard(loop_lag=False)  # nothing would read the handlers' time
    assert [g.metering() for _ in range(4 * METER_ALL)] == [0] * (4 * METER_ALL)
    assert g.runs == 4 * METER_ALL


async def test_about_the_same_number_of_handlers_is_metered_whatever_the_rate() -> None:
    g = guard()
    for runs, stride in ((METER_ALL * 20, 20), (METER_ALL * 10_000, METER_MAX_STRIDE), (3, 1)):
        for _ in range(runs):
            g.metering()
        g._on_lag(0.0)
        weights = [g.metering() for _ in range(stride * 4)]
        assert sum(1 for w in weights if w) == 4, (runs, stride)
        assert set(weights) == {0, stride} if stride > 1 else {1}
        g._on_lag(0.0)
