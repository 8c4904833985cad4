"""The early refusal (adapters/_early.py, _uvicorn.py): in memory first, uvicorn's protocols fed bytes
through a fake transport, each answer compared with what the middleware writes for the same
request on the same server state; the loopback tests are in test_early_refusal_real.py."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

import pytest
import uvicorn
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from healthgauge.overload import AdmissionController, FixedLimit, OverloadMiddleware, early_refusal
from healthgauge.overload.adapters._early import MAX_HEAD, render, simple_head
from healthgauge.overload.adapters._metrics import render as render_metrics

GET = b"GET /work HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n"
# The start of a head whose header value the next chunk, a whole GET of its own, completes.
SPLIT = b"GET /x HTTP/1.1\r\nX-A: "
STACKS = ("h11", "httptools")
PLAIN = {"h11": H11Protocol, "httptools": HttpToolsProtocol}

# -- the head reader, whole, in pieces, with trailing garbage ---------------------------------------


def test_a_plain_get_is_read() -> None:
    assert simple_head(GET) == ("GET", "/work")
    assert simple_head(b"HEAD /a/b?x=1 HTTP/1.1\r\nhost: y\r\n\r\n") == ("HEAD", "/a/b")


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(GET[:-2], id="partial"),
        pytest.param(GET[:10], id="partial request line"),
        pytest.param(GET + GET, id="pipelined"),
        pytest.param(GET + b"x", id="trailing bytes"),
        pytest.param(GET.replace(b"GET", b"POST"), id="POST"),
        pytest.param(GET.replace(b"HTTP/1.1", b"HTTP/1.0"), id="HTTP/1.0"),
        pytest.param(GET.replace(b"Host: x\r\n", b""), id="no Host"),
        pytest.param(GET.replace(b"Host: x\r\n", b"Host: x\r\nHost: y\r\n"), id="two Hosts"),
        pytest.param(b"GET /work HTTP/1.1\r\n\r\n", id="no headers"),
        pytest.param(GET.replace(b"/work", b"/w%6Frk"), id="escaped path"),
        pytest.param(GET.replace(b"/work", b"http://x/work"), id="absolute form"),
        pytest.param(GET.replace(b"User-Agent: t", b"Content-Length: 0"), id="content-length"),
        pytest.param(GET.replace(b"User-Agent: t", b"Transfer-Encoding: chunked"), id="chunked"),
        pytest.param(GET.replace(b"User-Agent: t", b"Connection: close"), id="connection"),
        pytest.param(GET.replace(b"User-Agent: t", b"Upgrade: websocket"), id="upgrade"),
        pytest.param(GET.replace(b"User-Agent: t", b"Expect: 100-continue"), id="expect"),
        pytest.param(GET.replace(b"User-Agent: t", b"User-Agent : t"), id="space before colon"),
        pytest.param(GET.replace(b"User-Agent: t", b" folded"), id="obs-fold"),
        pytest.param(GET.replace(b"/work", b"/" + b"a" * MAX_HEAD), id="too long"),
    ],
)
def test_anything_unusual_is_left_to_the_parser(data: bytes) -> None:
    assert simple_head(data) is None


def test_a_header_the_policy_reads_is_left_to_the_middleware() -> None:
    data = GET.replace(b"User-Agent: t", b"Healthgauge-Criticality: critical_plus")
    assert simple_head(data) == ("GET", "/work")
    assert simple_head(data, frozenset({b"healthgauge-criticality"})) is None


@given(st.binary(max_size=200))
def test_any_bytes_are_read_or_left_never_raise(data: bytes) -> None:
    result = simple_head(data)
    assert result is None or result[0] in ("GET", "HEAD")


@given(st.binary(min_size=1, max_size=60))
def test_a_plain_get_with_anything_after_it_is_left_to_the_parser(tail: bytes) -> None:
    assert simple_head(GET + tail) is None


# -- uvicorn's protocols in memory --------------------------------------------------------------------


class FakeTransport(asyncio.Transport):
    """What uvicorn's protocols write, and whether they closed."""

    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    @property
    def data(self) -> bytes:
        return bytes(self.written)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 80)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class Zero(random.Random):
    """Retry-After is 1 + a draw: this one draws 0, so answers can be compared byte for byte."""

    def random(self) -> float:
        return 0.0


Scope = MutableMapping[str, Any]


class Served:
    """An app whose ``/hold`` waits for :attr:`release`; anything else answers 200 at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.holding = asyncio.Event()
        self.paths: list[str] = []

    async def __call__(self, scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        assert scope["type"] == "http"
        self.paths.append(scope["path"])
        if scope["path"] == "/hold":
            self.holding.set()
            await asyncio.wait_for(self.release.wait(), 5)
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})


class Rig:
    """A middleware with a limit of 1, uvicorn's server state, and connections made with the
    refusing protocol or uvicorn's own (``plain``)."""

    def __init__(self, stack: str, draining: bool = False, limit: FixedLimit | None = None) -> None:
        self.app = Served()
        self.controller = AdmissionController(limit or FixedLimit(1), rng=Zero())
        self.mw = OverloadMiddleware(
            self.app, self.controller, handle_sigterm=False, loop_lag=False, registry=CollectorRegistry()
        )
        self.mw._started = True  # as after lifespan startup (the guard has nothing to start here)
        self.stack = stack
        self.cls = early_refusal(self.mw, stack)  # type: ignore[arg-type]
        self.config = uvicorn.Config(self.mw, http=self.cls, lifespan="off", log_level="warning")
        self.config.load()
        self.state = ServerState()
        self.state.default_headers = [(b"date", b"Mon, 07 Dec 2026 19:00:00 GMT"), (b"server", b"uvicorn")]
        if draining:
            self.controller.set_draining(True)

    def connect(self, *, plain: bool = False) -> tuple[Any, FakeTransport]:
        cls = PLAIN[self.stack] if plain else self.cls
        proto = cls(self.config, self.state, {}, asyncio.get_running_loop())  # type: ignore[call-arg]
        transport = FakeTransport()
        proto.connection_made(transport)
        return proto, transport

    async def hold(self) -> tuple[Any, FakeTransport]:
        """A connection whose request holds the only permit: the guard refuses every other."""
        held = self.connect()
        held[0].data_received(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
        await asyncio.wait_for(self.app.holding.wait(), 5)
        assert self.controller.inflight == 1
        return held

    async def settle(self) -> None:
        for _ in range(20):  # the ASGI tasks' few steps
            await asyncio.sleep(0)

    def stop(self, protos: list[Any]) -> None:
        self.app.release.set()
        for proto in protos:
            proto.connection_lost(None)


@pytest.fixture(params=STACKS)
async def rig(request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    r = Rig(request.param)
    yield r
    r.app.release.set()
    await r.settle()


async def test_a_refused_request_gets_the_middlewares_503_bytes_and_is_counted_once(rig: Rig) -> None:
    held, _ = await rig.hold()
    early, early_out = rig.connect()
    early.data_received(GET)
    assert rig.mw.guard.counters.early_refused == 1
    assert rig.controller.statistics().rejected["limit"] == 1
    assert rig.app.paths == ["/hold"]  # the app never saw it
    # The same request through uvicorn's own protocol: the middleware refuses it.
    plain, plain_out = rig.connect(plain=True)
    plain.data_received(GET)
    await rig.settle()
    assert rig.controller.statistics().rejected["limit"] == 2
    assert rig.mw.guard.counters.early_refused == 1
    assert plain_out.data.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert early_out.data == plain_out.data
    assert b"\r\nretry-after: 1\r\n" in early_out.data
    assert b"\r\nhealthgauge-load: " in early_out.data
    assert not early_out.closed
    assert early.timeout_keep_alive_task is not None
    assert rig.state.total_requests == 2
    rig.stop([held, early, plain])


async def test_a_refused_head_gets_the_headers_only(rig: Rig) -> None:
    held, _ = await rig.hold()
    head = GET.replace(b"GET", b"HEAD")
    early, early_out = rig.connect()
    early.data_received(head)
    plain, plain_out = rig.connect(plain=True)
    plain.data_received(head)
    await rig.settle()
    assert rig.mw.guard.counters.early_refused == 1
    assert early_out.data == plain_out.data
    assert early_out.data.endswith(b"\r\n\r\n")
    rig.stop([held, early, plain])


async def test_the_connection_goes_on_after_a_refusal(rig: Rig) -> None:
    held, _ = await rig.hold()
    early, out = rig.connect()
    early.data_received(GET)
    early.data_received(GET)
    assert out.data.count(b"HTTP/1.1 503 ") == 2
    assert rig.mw.guard.counters.early_refused == 2
    rig.app.release.set()
    await rig.settle()
    assert rig.controller.inflight == 0
    out.written.clear()
    early.data_received(GET)  # below the limit again: served
    await rig.settle()
    assert out.data.startswith(b"HTTP/1.1 200 ")
    assert rig.app.paths == ["/hold", "/work"]
    rig.stop([held, early])


def passed_on(rig: Rig) -> int:
    return rig.controller.statistics().rejected["limit"]


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([GET + GET], id="pipelined"),
        pytest.param([GET[:12], GET[12:]], id="partial head"),
        pytest.param([b"POST /work HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"], id="body"),
        pytest.param([b"POST /work HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n", b"abc"], id="body later"),
        pytest.param([GET.replace(b"User-Agent: t", b"Connection: close")], id="connection close"),
    ],
)
async def test_unusual_requests_reach_the_parser_and_the_middleware(rig: Rig, chunks: list[bytes]) -> None:
    held, _ = await rig.hold()
    proto, out = rig.connect()
    for chunk in chunks:
        proto.data_received(chunk)
        await rig.settle()
    await rig.settle()
    assert rig.mw.guard.counters.early_refused == 0
    assert passed_on(rig) >= 1
    assert out.data.startswith(b"HTTP/1.1 503 ")
    rig.stop([held, proto])


async def test_a_served_connection_then_a_partial_head_goes_to_the_parser(rig: Rig) -> None:
    proto, out = rig.connect()
    proto.data_received(GET)  # served below the limit: the connection has a finished request
    await rig.settle()
    assert out.data.startswith(b"HTTP/1.1 200 ")
    held, _ = await rig.hold()
    proto.data_received(SPLIT)
    proto.data_received(GET)  # a whole plain GET on its own, but here the rest of SPLIT's head
    await rig.settle()
    assert rig.mw.guard.counters.early_refused == 0
    assert out.data.count(b"HTTP/1.1 503 ") == 1  # the middleware refused it
    rig.stop([held, proto])


async def test_a_request_after_a_partial_one_is_not_taken_for_a_new_one(rig: Rig) -> None:
    held, _ = await rig.hold()
    proto, _out = rig.connect()
    proto.data_received(SPLIT)
    proto.data_received(GET)  # a whole plain GET on its own, but here the rest of SPLIT's head
    await rig.settle()
    assert rig.mw.guard.counters.early_refused == 0
    rig.stop([held, proto])


async def test_health_checks_and_policy_headers_pass(rig: Rig) -> None:
    held, _ = await rig.hold()
    health, health_out = rig.connect()
    health.data_received(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    critical, critical_out = rig.connect()
    critical.data_received(b"GET /work HTTP/1.1\r\nHost: x\r\nHealthgauge-Criticality: critical_plus\r\n\r\n")
    await rig.settle()
    assert health_out.data.startswith(b"HTTP/1.1 200 ")  # bypassed, served at the limit
    assert rig.mw.guard.counters.bypassed == 1
    assert critical_out.data.startswith(b"HTTP/1.1 503 ")  # classified by the middleware (it refuses it too)
    assert rig.mw.guard.counters.early_refused == 0
    rig.stop([held, health, critical])


async def test_below_the_limit_nothing_is_refused(rig: Rig) -> None:
    proto, out = rig.connect()
    proto.data_received(GET)
    await rig.settle()
    assert out.data.startswith(b"HTTP/1.1 200 ")
    assert rig.mw.guard.counters.early_refused == 0
    rig.stop([proto])


@pytest.mark.parametrize("stack", STACKS)
async def test_draining_refuses_early_with_the_draining_reason(stack: str) -> None:
    r = Rig(stack, draining=True)
    proto, out = r.connect()
    proto.data_received(GET)
    assert out.data.startswith(b"HTTP/1.1 503 ")
    assert r.controller.statistics().rejected["draining"] == 1
    assert r.mw.guard.counters.early_refused == 1
    r.stop([proto])


@pytest.mark.parametrize("stack", STACKS)
async def test_monitor_only_never_refuses_early(stack: str) -> None:
    r = Rig(stack)
    r.mw.guard.monitor_only = True
    held, _ = await r.hold()
    proto, out = r.connect()
    proto.data_received(GET)
    await r.settle()
    assert out.data.startswith(b"HTTP/1.1 200 ")
    assert r.mw.guard.counters.early_refused == 0
    r.stop([held, proto])
    await r.settle()


def test_the_renderer_writes_what_uvicorn_writes() -> None:
    from healthgauge.overload import rejection_response

    response = rejection_response("limit", retry_after=2, no_retry=False)
    wire = render(response, [(b"server", b"uvicorn")], head=False)
    assert wire.startswith(b"HTTP/1.1 503 Service Unavailable\r\nserver: uvicorn\r\ncontent-type: ")
    assert wire.endswith(b"\r\nretry-after: 2\r\n\r\noverloaded\n")
    assert render(response, (), head=True).endswith(b"retry-after: 2\r\n\r\n")


def test_the_early_refusals_are_exported() -> None:
    registry = CollectorRegistry()
    mw = OverloadMiddleware(Served(), handle_sigterm=False, loop_lag=False, registry=registry)
    mw.guard.counters.early_refused = 3
    from healthgauge.overload.adapters._metrics import register

    register(mw.guard, registry)
    body, _ = render_metrics(registry)
    assert b"healthgauge_overload_early_refused_total 3.0" in body


# -- what the controller is asked, and a limit that sheds at start --------------------------------


class Sloughing(FixedLimit):
    """A fixed limit that, while ``shed`` is set, sheds every request at its start (as the default
    ``LoopDelayLimit`` does while overloaded, past its slough timeout)."""

    shed = True

    @property
    def overloaded(self) -> bool:
        return self.shed

    def on_start(self, now: float, delay: float) -> bool:
        return self.shed

    def sheds_at_start(self, now: float, delay: float) -> bool:
        return self.shed


@pytest.mark.parametrize("stack", STACKS)
async def test_a_request_the_limit_would_shed_at_start_is_refused_early_as_expired(stack: str) -> None:
    r = Rig(stack, limit=Sloughing(100))
    early, early_out = r.connect()
    early.data_received(GET)
    plain, plain_out = r.connect(plain=True)
    plain.data_received(GET)
    await r.settle()
    st = r.controller.statistics()
    assert st.rejected["expired"] == 2
    assert st.admitted == 2
    assert st.completed["ignored"] == 2  # admitted and sloughed, both ways alike
    assert r.mw.guard.counters.early_refused == 1
    assert early_out.data == plain_out.data
    assert r.app.paths == []
    r.stop([early, plain])


def test_refuses_says_what_acquire_would_do_and_changes_nothing() -> None:
    from healthgauge.overload import WaitQueue

    ctl = AdmissionController(FixedLimit(1))
    assert not ctl.refuses(0.0)
    permit = ctl.acquire(now=0.0)
    before = ctl.statistics()
    assert ctl.refuses(0.0)
    assert ctl.statistics() == before
    assert not isinstance(ctl.acquire(now=0.0), type(permit))  # refused, as said
    queued = AdmissionController(FixedLimit(1), queue=WaitQueue())
    queued.acquire(now=0.0)
    assert not queued.refuses(0.0)  # it would wait
    queued.set_draining(True)
    assert queued.refuses(0.0)
    monitor = AdmissionController(FixedLimit(1), monitor_only=True)
    monitor.acquire(now=0.0)
    assert not monitor.refuses(0.0)
    shedding = AdmissionController(Sloughing(10))
    assert shedding.refuses(0.0)


@given(st.booleans(), st.floats(min_value=0, max_value=1), st.floats(min_value=0, max_value=100))
def test_loop_delay_limit_sheds_at_start_as_it_says(overloaded: bool, delay: float, now: float) -> None:
    from healthgauge.overload import LoopDelayLimit

    limit = LoopDelayLimit()
    limit._overloaded = overloaded
    said = limit.sheds_at_start(now, delay)
    assert limit.on_start(now, delay) is said


def test_loop_delay_limit_leaves_a_release_probes_regrowth_to_on_start() -> None:
    """Confirming regrowth during a release probe changes the limit's state, so the early refusal
    never foresees it: the request reaches the parser and on_start confirms it."""
    from healthgauge.overload import LoopDelayLimit

    limit = LoopDelayLimit()
    limit._release.ceiling = 0.05  # a release probe saw the loop lengthen once
    limit._release.since = 0.0
    limit._iv.share = 1.0
    now = 10 * limit.interval
    assert not limit.sheds_at_start(now, 0.2)
    assert limit.on_start(now, 0.2)  # on_start confirms it: the limit is overloaded again
    assert limit.sheds_at_start(now, limit.slough_timeout + 0.1)


async def test_a_refusal_is_logged_as_uvicorn_logs_an_answer() -> None:
    import logging

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    r = Rig("h11")  # its config sets uvicorn's loggers up: warnings only, not propagated
    access = logging.getLogger("uvicorn.access")
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    try:
        held, _ = await r.hold()
        early, _ = r.connect()
        early.access_log = True
        early.data_received(GET)
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    assert r.mw.guard.counters.early_refused == 1, records
    (record,) = records
    assert record.args == ("127.0.0.1:5555", "GET", "/work", "1.1", 503)
    r.stop([held, early])
