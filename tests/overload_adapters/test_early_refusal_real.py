"""The early refusal on real uvicorn servers (h11 and httptools), in this process on 127.0.0.1, an
ephemeral port, raw HTTP/1.1 over a socket: what a client gets, and what the guard counts. Every
wait is bounded; each server is stopped by its test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import pytest

from healthgauge.overload import AdmissionController, FixedLimit, early_refusal
from support.asgi_apps import HoldingService

STACKS = ("h11", "httptools")
GET = b"GET /work HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
WAIT = 5.0  # seconds any one step may take on a loaded machine before the test fails

Scope = MutableMapping[str, Any]


class Service(HoldingService):
    """uvicorn serving ``OverloadMiddleware(HoldingApp(), FixedLimit(1))`` with the early refusal."""

    def __init__(self, stack: str) -> None:
        super().__init__(AdmissionController(FixedLimit(1)), lambda mw: early_refusal(mw, stack), WAIT)


async def answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One answer's head and its body (by its Content-Length)."""
    async with asyncio.timeout(WAIT):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        return head, await reader.readexactly(length)


@pytest.fixture(params=STACKS)
async def service(request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    s = Service(request.param)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


async def test_a_refused_request_gets_the_503_and_the_connection_serves_on(service: Service) -> None:
    held = await service.hold()
    reader, writer = await service.connect()
    writer.write(GET)
    head, body = await answer(reader)
    assert head.startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert b"\r\nretry-after: " in head
    assert b"\r\nhealthgauge-overload: shed\r\n" in head
    assert b"\r\nhealthgauge-load: " in head
    assert body == b"overloaded\n"
    assert service.mw.guard.counters.early_refused == 1
    assert service.controller.statistics().rejected["limit"] == 1
    assert service.app.seen == ["/hold"]
    service.app.release.set()  # below the limit again: the same connection is served
    for _ in range(50):
        if service.controller.inflight == 0:
            break
        await asyncio.sleep(0.02)
    writer.write(GET)
    head, body = await answer(reader)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == b"ok"
    writer.close()
    held.close()


async def test_health_checks_pass_while_refusing(service: Service) -> None:
    held = await service.hold()
    reader, writer = await service.connect()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head, _ = await answer(reader)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert service.mw.guard.counters.early_refused == 0
    assert service.mw.guard.counters.bypassed == 1
    writer.close()
    held.close()


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(GET + GET, id="pipelined"),
        pytest.param(b"POST /work HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", id="body"),
    ],
)
async def test_unusual_requests_are_refused_by_the_middleware(service: Service, request_bytes: bytes) -> None:
    held = await service.hold()
    reader, writer = await service.connect()
    writer.write(request_bytes)
    head, _ = await answer(reader)
    assert head.startswith(b"HTTP/1.1 503 ")
    assert service.mw.guard.counters.early_refused == 0
    assert service.controller.statistics().rejected["limit"] >= 1
    writer.close()
    held.close()


async def test_a_head_split_across_writes_is_refused_once(service: Service) -> None:
    """Read apart (the usual case) it goes to the parser, and the middleware refuses it; read
    together (a server too busy to read the first part in time) it is refused early. Either way
    one 503 and one refusal counted (the in-memory tests pin down which way each takes)."""
    held = await service.hold()
    reader, writer = await service.connect()
    writer.write(GET[:12])
    await writer.drain()
    await asyncio.sleep(0.05)  # its own segment (TCP_NODELAY)
    writer.write(GET[12:])
    head, _ = await answer(reader)
    assert head.startswith(b"HTTP/1.1 503 ")
    assert service.controller.statistics().rejected["limit"] == 1
    writer.close()
    held.close()
