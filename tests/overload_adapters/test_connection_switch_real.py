"""The default middleware's early refusal (``ConnectionSwitch``, adapters/_uvicorn.py) on real
uvicorn servers, h11 and httptools, with no option set: a connection the middleware refused once
has its later refusals written before uvicorn parses them, and is parsed as before when the guard
admits again. In this process, 127.0.0.1, an ephemeral port, raw HTTP/1.1 over a socket; every
wait is bounded and each server is stopped by its test."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

import pytest
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from healthgauge.overload import AdmissionController, FixedLimit
from support.asgi_apps import HoldingService

STACKS = {"h11": H11Protocol, "httptools": HttpToolsProtocol}
GET = b"GET /work HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
WAIT = 5.0  # seconds any one step may take on a loaded machine before the test fails

Scope = MutableMapping[str, Any]
ASGI = Callable[[Scope, Any, Any], Any]


class Zero(random.Random):
    """Retry-After is 1 + a draw: this one draws 0, so answers can be compared byte for byte."""

    def random(self) -> float:
        return 0.0


class Service(HoldingService):
    """uvicorn serving ``OverloadMiddleware(HoldingApp(), FixedLimit(1))`` as a user writes it: ``http``
    is uvicorn's own protocol name (or a class), ``outer`` an app wrapped around the middleware."""

    def __init__(self, http: str | type, outer: Callable[[ASGI], ASGI] | None = None) -> None:
        super().__init__(AdmissionController(FixedLimit(1), rng=Zero()), http, WAIT, outer)
        self.base = STACKS[http] if isinstance(http, str) else http
        self.refusing = self.base.__name__.removesuffix("Protocol") + "RefusingProtocol"

    async def calm(self) -> None:
        """Release the held request and wait until the guard has nothing in flight."""
        self.app.release.set()
        async with asyncio.timeout(WAIT):
            while self.controller.inflight:  # noqa: ASYNC110 - the controller has no event
                await asyncio.sleep(0.01)

    def protocols(self) -> set[type]:
        return {type(p) for p in self.server.server_state.connections}

    @property
    def early(self) -> int:
        return self.mw.guard.counters.early_refused

    @property
    def refused(self) -> int:
        return self.controller.statistics().rejected["limit"]


async def answer(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One answer's head and its body (by its Content-Length)."""
    async with asyncio.timeout(WAIT):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
        )
        return head, await reader.readexactly(length)


def undated(head: bytes) -> bytes:
    """``head`` without its Date line (uvicorn's date may turn a second between two answers)."""
    return b"\r\n".join(line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:"))


async def started(http: str | type, outer: Callable[[ASGI], ASGI] | None = None) -> Service:
    s = Service(http, outer)
    await s.start()
    return s


@pytest.fixture(params=sorted(STACKS))
async def service(request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    s = await started(request.param)
    try:
        yield s
    finally:
        await s.stop()


async def test_after_one_refusal_the_connection_is_refused_before_parsing(service: Service) -> None:
    held = await service.hold()
    reader, writer = await service.connect()
    writer.write(GET)
    first = await answer(reader)  # through the parser and the middleware
    assert first[0].startswith(b"HTTP/1.1 503 Service Unavailable\r\n")
    assert (service.early, service.refused) == (0, 1)
    before = service.server.server_state.total_requests
    for n in (1, 2, 3):
        writer.write(GET)
        again = await answer(reader)  # the same connection: refused before the parser
        assert (service.early, service.refused) == (n, 1 + n)
        assert (undated(again[0]), again[1]) == (undated(first[0]), first[1])  # the same bytes
    assert service.server.server_state.total_requests == before + 3  # counted as answers
    assert service.app.seen == ["/hold"]
    switched = service.protocols() - {service.base}  # the held connection's is uvicorn's own
    assert [(cls.__name__, cls.__bases__[0]) for cls in switched] == [(service.refusing, service.base)]
    await service.calm()
    writer.write(GET)  # the guard admits again: parsed and served on the same connection
    head, body = await answer(reader)
    assert head.startswith(b"HTTP/1.1 200 ")
    assert body == b"ok"
    assert service.app.seen == ["/hold", "/work"]
    assert service.early == 3
    writer.close()
    held.close()


async def test_only_the_refused_connection_is_switched(service: Service) -> None:
    base = service.base
    held = await service.hold()
    reader, writer = await service.connect()
    other_reader, other = await service.connect()
    other.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # bypassed: served, never refused
    assert (await answer(other_reader))[0].startswith(b"HTTP/1.1 200 ")
    writer.write(GET)
    await answer(reader)
    kinds = sorted(type(p).__name__ for p in service.server.server_state.connections)
    assert kinds == sorted([base.__name__, base.__name__, service.refusing])  # held, other, refused
    writer.close()
    other.close()
    held.close()


async def test_pipelined_requests_on_a_switched_connection_go_to_the_parser(service: Service) -> None:
    held = await service.hold()
    reader, writer = await service.connect()
    writer.write(GET)
    await answer(reader)
    writer.write(GET + GET)  # two heads in one chunk: the parser's to read, in order
    for _ in range(2):
        head, _ = await answer(reader)
        assert head.startswith(b"HTTP/1.1 503 ")
    assert (service.early, service.refused) == (0, 3)
    writer.write(GET)  # and a plain one after them is refused early again
    assert (await answer(reader))[0].startswith(b"HTTP/1.1 503 ")
    assert service.early == 1
    writer.close()
    held.close()


async def test_a_client_asking_to_close_is_answered_by_the_parser_and_closed(service: Service) -> None:
    held = await service.hold()
    reader, writer = await service.connect()
    writer.write(GET)
    await answer(reader)
    writer.write(GET.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
    head, _ = await answer(reader)
    assert head.startswith(b"HTTP/1.1 503 ")
    assert b"connection: close" in head.lower()
    assert service.early == 0
    async with asyncio.timeout(WAIT):
        assert await reader.read() == b""  # closed by the server, as uvicorn does
    writer.close()
    held.close()


@pytest.mark.parametrize("name", sorted(STACKS))
async def test_a_users_protocol_subclass_is_left_alone(name: str) -> None:
    class Mine(STACKS[name]):  # type: ignore[misc, valid-type]
        """Someone's own protocol (its data_received could be anything)."""

    s = await started(Mine)
    try:
        held = await s.hold()
        reader, writer = await s.connect()
        for _ in range(3):
            writer.write(GET)
            assert (await answer(reader))[0].startswith(b"HTTP/1.1 503 ")
        assert (s.early, s.refused) == (0, 3)
        assert s.protocols() == {Mine}
        writer.close()
        held.close()
    finally:
        await s.stop()


def passing(app: ASGI) -> ASGI:
    """An outer middleware that passes ``send`` through but counts every request: a refusal
    before the parser would skip it, so the middleware must not switch."""

    async def outer(scope: Scope, receive: Any, send: Any) -> None:
        scope.setdefault("state", {})["outer"] = True
        await app(scope, receive, send)

    return outer


async def test_behind_another_middleware_nothing_is_switched() -> None:
    s = await started("h11", passing)
    try:
        held = await s.hold()
        reader, writer = await s.connect()
        for _ in range(3):
            writer.write(GET)
            assert (await answer(reader))[0].startswith(b"HTTP/1.1 503 ")
        assert (s.early, s.refused) == (0, 3)
        assert s.protocols() == {H11Protocol}
        writer.close()
        held.close()
    finally:
        await s.stop()


async def test_a_protocol_that_cannot_be_switched_is_left_alone_and_still_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A uvicorn whose protocol layout no longer allows the switch (here: a class of another
    layout in the cache) keeps refusing through the middleware, and the class is not tried again."""
    from healthgauge.overload.adapters import _uvicorn

    class Slotted:
        __slots__ = ("x",)

    monkeypatch.setitem(_uvicorn._SWITCHED, H11Protocol, Slotted)
    s = await started("h11")
    try:
        held = await s.hold()
        reader, writer = await s.connect()
        for _ in range(2):
            writer.write(GET)
            assert (await answer(reader))[0].startswith(b"HTTP/1.1 503 ")
        assert (s.early, s.refused) == (0, 2)
        assert s.protocols() == {H11Protocol}
        assert _uvicorn._SWITCHED[H11Protocol] is None
        writer.close()
        held.close()
    finally:
        await s.stop()
