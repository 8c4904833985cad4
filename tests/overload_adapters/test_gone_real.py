"""Requests whose client has gone are not run (adapters/_gone.py), on real servers: uvicorn (h11,
httptools) and aiohttp, in this process, 127.0.0.1, ephemeral ports. The clients are blocking
sockets: they connect, send and close without the server's loop running, as a client that gave
up at its deadline does while its request waits behind a long loop iteration. Every wait is
bounded; each server is stopped by its test."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import pytest
import uvicorn
from aiohttp import web
from prometheus_client import CollectorRegistry

from healthgauge.overload import AdmissionController, OverloadGuard, OverloadMiddleware, setup_aiohttp
from support.asgi_apps import HoldingApp

WAIT = 5.0  # seconds any one step may take on a loaded machine before the test fails


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


def sent(port: int, path: str, *, close: bool) -> socket.socket:
    """A blocking client: connects (the kernel accepts for the server), sends ``GET path`` and,
    with ``close``, closes at once (its end-of-file waits in the server's socket)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    sock.sendall(get(path))
    if close:
        sock.close()
    return sock


def answered(sock: socket.socket) -> bytes:
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
        return head.split(b"\r\n", 1)[0]
    finally:
        sock.close()


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT):
        while not condition():  # noqa: ASYNC110 - polling the server's counters, bounded
            await asyncio.sleep(0.01)


async def check(port: int, controller: AdmissionController, seen: list[str], unwatched_runs: bool) -> None:
    """With ``watch_gone`` set (the loop late; no probe here to reset it), a request whose client
    closed is not run, one whose client waits is; without it, the closed one runs too
    (``unwatched_runs``: uvicorn; aiohttp may drop it itself, when it reads the end-of-file first).
    The clients run while the server's loop is blocked (no ``await`` between connecting and
    closing): the request and its end-of-file both wait in the server's socket."""
    controller.watch_gone = True
    sent(port, "/gone", close=True)
    waiting = sent(port, "/waiting", close=False)
    assert await asyncio.to_thread(answered, waiting) == b"HTTP/1.1 200 OK"
    await until(lambda: controller.statistics().abandoned == 1)
    assert "/gone" not in seen
    assert "/waiting" in seen
    assert controller.inflight == 0
    if unwatched_runs:
        controller.watch_gone = False  # the loop on time: nobody looks
        sent(port, "/gone-unwatched", close=True)
        await until(lambda: "/gone-unwatched" in seen)
        assert controller.statistics().abandoned == 1


@pytest.mark.parametrize("http", ["h11", "httptools"])
async def test_uvicorn_does_not_run_a_request_whose_client_has_gone(http: str) -> None:
    app = HoldingApp(wait=WAIT)  # never asked to hold: records each path, answers 200
    controller = AdmissionController()
    mw = OverloadMiddleware(app, controller, handle_sigterm=False, registry=CollectorRegistry(), loop_lag=False)
    config = uvicorn.Config(mw, http=http, loop="asyncio", lifespan="on", log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await until(lambda: server.started)
        await check(sock.getsockname()[1], controller, app.seen, unwatched_runs=True)
    finally:
        server.should_exit = True
        async with asyncio.timeout(WAIT):
            await task
        sock.close()


async def test_aiohttp_does_not_run_a_request_whose_client_has_gone() -> None:
    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    controller = AdmissionController()
    guard = OverloadGuard(controller, handle_sigterm=False, registry=CollectorRegistry(), loop_lag=False)
    setup_aiohttp(app, guard=guard)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        await check(port, controller, seen, unwatched_runs=False)
    finally:
        async with asyncio.timeout(WAIT):
            await runner.cleanup()
