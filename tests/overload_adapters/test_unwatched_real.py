"""The calm path unwatched on real uvicorn servers (h11 and httptools), in this process on
127.0.0.1, an ephemeral port, raw HTTP/1.1: with the app given the server's own ``send`` and
``receive``, what a watch would have told (a response already started; the client gone) is read
from uvicorn's request cycle, and every ending is the one the watched path gives
(``count_server_errors=True`` keeps the watch: the same table, run both ways). Every wait is
bounded; each server is stopped by its test."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import pytest
import uvicorn
from prometheus_client import CollectorRegistry

from healthgauge.overload import DownstreamOverloaded, OverloadMiddleware
from support.asgi_apps import answer_lifespan

WAIT = 5.0  # seconds any one step may take on a loaded machine before the test fails

Scope = MutableMapping[str, Any]


class App:
    """``/ok``: 200. ``/downstream-before`` raises ``DownstreamOverloaded`` before answering,
    ``/downstream-after`` after the response started; ``/fail`` raises before answering; ``/slow``
    answers once :attr:`release` is set (the test's client leaves meanwhile)."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        path = scope["path"]
        if path == "/downstream-before":
            raise DownstreamOverloaded()
        if path == "/fail":
            raise RuntimeError("the handler failed")
        if path == "/slow":
            self.started.set()
            await asyncio.wait_for(self.release.wait(), WAIT)
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        if path == "/downstream-after":
            raise DownstreamOverloaded()
        await send({"type": "http.response.body", "body": b"ok"})


@asynccontextmanager
async def serving(stack: str, count_server_errors: bool) -> AsyncIterator[tuple[OverloadMiddleware, App, int]]:
    """uvicorn (``stack``) serving ``OverloadMiddleware(App())`` with the default controller; no
    loop probe, so no request is picked for timing and every one takes the calm path."""
    app = App()
    mw = OverloadMiddleware(
        app, handle_sigterm=False, registry=CollectorRegistry(), loop_lag=False, count_server_errors=count_server_errors
    )
    server = uvicorn.Server(uvicorn.Config(mw, http=stack, lifespan="on", log_level="critical", access_log=False))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(WAIT):
            while not server.started:  # noqa: ASYNC110 - uvicorn sets a flag, no event
                await asyncio.sleep(0.01)
        yield mw, app, sock.getsockname()[1]
    finally:
        app.release.set()
        server.should_exit = True
        async with asyncio.timeout(WAIT):
            await task
        sock.close()


async def get(port: int, path: str) -> bytes:
    """Everything the server sends for ``GET path`` on a connection it closes after answering."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        async with asyncio.timeout(WAIT):
            return await reader.read(-1)
    finally:
        writer.close()


def completed(mw: OverloadMiddleware) -> dict[str, int]:
    return {k: v for k, v in mw.guard.controller.statistics().completed.items() if v}


@pytest.fixture(params=["h11", "httptools"])
def stack(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[False, True], ids=["unwatched", "watched"])
def count_server_errors(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


async def test_a_503_answers_a_failure_only_before_the_response_started(stack: str, count_server_errors: bool) -> None:
    async with serving(stack, count_server_errors) as (mw, _, port):
        assert (await get(port, "/ok")).startswith(b"HTTP/1.1 200 ")
        assert mw.guard.controller.calm
        # The first calm request decided: uvicorn's cycle is read unless every status is counted.
        assert (mw._cycle is None) is count_server_errors

        before = await get(port, "/downstream-before")
        assert before.startswith(b"HTTP/1.1 503 ")
        assert b"healthgauge-overload: no-retry" in before.lower()

        after = await get(port, "/downstream-after")
        assert after.startswith(b"HTTP/1.1 200 ")  # the head the app sent; no 503 after it
        assert b" 503 " not in after
        assert not after.endswith(b"ok")  # uvicorn closed the connection: the body never came

        failed = await get(port, "/fail")
        assert failed.startswith(b"HTTP/1.1 500 ")  # uvicorn's own answer; the error went on

        st = mw.guard.controller.statistics()
        assert st.inflight == 0
        assert completed(mw) == {"success": 2, "dropped": 2}
        assert mw.guard.counters.server_errors == (1 if count_server_errors else 0)
        assert mw.guard.counters.downstream_overloaded == 1


async def test_a_client_gone_before_the_answer_is_ignored(stack: str, count_server_errors: bool) -> None:
    """The watched path learns it when the app receives ``http.disconnect``; this app never
    receives, so only the unwatched one (uvicorn's ``disconnected``) can tell: ``ignored``.
    Watched, the same request counts as a success, as before."""
    async with serving(stack, count_server_errors) as (mw, app, port):
        assert (await get(port, "/ok")).startswith(b"HTTP/1.1 200 ")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        async with asyncio.timeout(WAIT):
            await app.started.wait()
        writer.close()
        async with asyncio.timeout(WAIT):
            await reader.read(-1)
            await asyncio.sleep(0.05)  # the server sees the close: connection_lost
        app.release.set()
        async with asyncio.timeout(WAIT):
            while mw.guard.controller.inflight:  # noqa: ASYNC110 - the core's counters: no event
                await asyncio.sleep(0.005)
        expected = {"success": 2} if count_server_errors else {"success": 1, "ignored": 1}
        assert completed(mw) == expected
