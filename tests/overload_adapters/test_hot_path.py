"""The ASGI middleware's per-request path (issue #11, its cost): what it skips must not change what
it does. Called in memory (no server, no timing): the app's status and the client's going away
are still seen, 503s are built once but sent as fresh messages, metering is sampled without bias,
and the headers are parsed only when one is present."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry

from healthgauge.overload import AdmissionController, FixedLimit, LoopDelayLimit, OverloadGuard, OverloadMiddleware
from healthgauge.overload.adapters._asgi import _TimedExchange
from healthgauge.overload.adapters._guard import METER_ALL, METER_MAX_STRIDE, METER_SPAN

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
    g = guard(count_server_errors=True)
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


def admitted(g: OverloadGuard, n: int) -> None:
    """``n`` requests admitted and completed, as the calm path does."""
    for _ in range(n):
        assert g.controller.enter_calm() > 0
        g.controller.leave_calm()


# Probe intervals (10 ms) per metering span: the stride aims at METER_ALL timed handlers a span.
PROBES = round(METER_SPAN / 0.01)


async def test_metering_is_sampled_without_bias() -> None:
    g = guard()
    weights = [g.metering() for _ in range(METER_ALL - 1)]
    assert weights == [1] * (METER_ALL - 1)  # a quiet interval: every handler timed
    admitted(g, METER_ALL // PROBES)
    g._on_lag(0.0)  # the probe closes an interval that admitted few requests
    assert g.metering() == 1
    admitted(g, METER_ALL + 1)
    assert g.runs == METER_ALL + 1  # every admission is counted, metered or not
    g._on_lag(0.0)  # a busy one: from now on one in PROBES, counted PROBES times
    assert g.runs == 0
    assert g.stride == PROBES
    n = 10 * PROBES
    weights = [g.metering() for _ in range(n)]
    assert sum(weights) == n
    assert sum(1 for w in weights if w) == n // PROBES


async def test_nothing_is_metered_without_a_loop_probe() -> None:
    g = guard(loop_lag=False)  # nothing would read the handlers' time
    assert [g.metering() for _ in range(4 * METER_ALL)] == [0] * (4 * METER_ALL)
    assert all(seq % g.stride for seq in range(1, 100_000))  # calm admissions, picked by number


async def test_about_the_same_number_of_handlers_is_metered_whatever_the_rate() -> None:
    g = guard()
    for runs, stride in ((METER_ALL * 20 // PROBES, 20), (METER_ALL * 10_000, METER_MAX_STRIDE), (3, 1)):
        admitted(g, runs)
        g._on_lag(0.0)
        assert g.stride == stride
        weights = [g.metering() for _ in range(stride * 4)]
        assert sum(1 for w in weights if w) == 4, (runs, stride)
        assert set(weights) == {0, stride} if stride > 1 else {1}
        g._on_lag(0.0)


async def test_calm_requests_are_timed_by_their_admission_number() -> None:
    """One calm request in ``stride`` runs metered (its ``send`` the timed exchange's), counted
    ``stride`` times; the others run with the plain watchers and cost the limit nothing more."""
    g = guard()
    timed: list[bool] = []

    async def app(s: Any, receive: Any, send: Any) -> None:
        timed.append(isinstance(getattr(send, "__self__", None), _TimedExchange))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    mw = OverloadMiddleware(app, guard=g)
    await call(mw, scope())  # the first request starts the guard (not calm: it has not started)
    g.stride = 4
    for _ in range(40):
        await call(mw, scope())
    assert g.controller.statistics().admitted == 41
    assert timed[1:].count(True) == 10


async def test_a_calm_route_is_remembered_and_a_bypass_route_counted_each_time() -> None:
    g = guard()
    mw = OverloadMiddleware(answering(200), guard=g, metrics_path="/stats")
    await call(mw, scope("/work"))  # starts the guard: only then is a route remembered
    assert mw._routes.calm == set()
    for _ in range(3):
        await call(mw, scope("/healthz"))
        await call(mw, scope("/stats"))
    await call(mw, scope("/work"))
    await call(mw, scope("/work"))
    assert mw._routes.calm == {"/work"}
    assert g.counters.bypassed == 3
    assert g.controller.statistics().admitted == 3


async def test_a_burst_after_a_quiet_interval_is_not_all_timed() -> None:
    """Stride 1 after a quiet interval: the stride doubles after every METER_ALL picks until the
    next probe, each pick weighted by its stride, so the weights still add up to the handlers."""
    g = guard()
    n = 40 * METER_ALL
    weights = [g.metering() for _ in range(n)]
    picked = [w for w in weights if w]
    assert len(picked) < n // 6
    assert picked[: METER_ALL + 1] == [1] * METER_ALL + [2]
    assert n - g.stride < sum(weights) <= n


async def test_a_client_that_receives_through_the_calm_path_is_seen_going_away() -> None:
    g = guard()
    mw = OverloadMiddleware(answering(200, read_twice=True), guard=g)
    await call(mw, scope())  # starts the guard
    g.stride = 1000  # no request picked for timing: the calm path's own watching
    sent = await call(mw, scope())
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert g.controller.statistics().completed == {"success": 0, "dropped": 0, "ignored": 2}


class CountingQueue:
    """An accept queue that counts its reads (the guard's probe sample asks it)."""

    def __init__(self) -> None:
        self.reads = 0

    def read(self, now: float) -> int:
        self.reads += 1
        return self.reads


async def test_the_accept_queue_is_read_every_sample_only_where_the_limit_judges_it() -> None:
    """The default limit only reports the accept queue: read once per metering span (each
    sample in between hands the controller the last reading); with ``min_queue_growth`` it
    judges it: read with every sample."""
    for limit, reads in ((LoopDelayLimit(), 3), (LoopDelayLimit(min_queue_growth=8), 3 * PROBES)):
        g = guard(controller=AdmissionController(limit))
        counting = CountingQueue()
        g.accept_queue = counting  # type: ignore[assignment]
        for _ in range(3 * PROBES):
            g._on_lag(0.0)
        assert counting.reads == reads
        details = g.controller.limit.statistics().details
        assert details["accept_queue"] == reads  # the latest reading reached the limit
