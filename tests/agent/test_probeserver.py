"""The probe server: strict request parsing, keep-alive, pipelining, limits and deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable

import pytest

from healthgauge.agent.servers import _probeserver
from healthgauge.agent.servers._probeserver import ProbeServer, parse_head, render_response
from healthgauge.health._http import Response


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"GET /readyz HTTP/1.1\r\nHost: a", ("GET", "/readyz", False, False)),
        (b"HEAD /livez HTTP/1.1", ("HEAD", "/livez", False, True)),
        (b"GET /x HTTP/1.1\r\nConnection: close", ("GET", "/x", True, False)),
        (b"GET /x HTTP/1.1\r\nconnection: Keep-Alive, Close", ("GET", "/x", True, False)),
        (b"GET /x HTTP/1.0", ("GET", "/x", True, False)),
        (b"GET /x HTTP/1.0\r\nConnection: keep-alive", ("GET", "/x", False, False)),
        (b"GET http://agent:8099/readyz/w?verbose HTTP/1.1", ("GET", "/readyz/w?verbose", False, False)),
        (b"GET /x HTTP/1.1\r\nContent-Length: 0", ("GET", "/x", False, False)),
    ],
)
def test_requests(head: bytes, expected: tuple[str, str, bool, bool]) -> None:
    request = parse_head(head)
    assert not isinstance(request, tuple)
    assert (request.method, request.target, request.close, request.head) == expected


@pytest.mark.parametrize(
    ("head", "status", "text"),
    [
        (b"GET /x", 400, "bad request line"),
        (b"GET /x HTTP/2", 400, "bad request line"),
        (b"GET  /x HTTP/1.1", 400, "bad request line"),
        (b"GET /x HTTP/1.1\r\nno colon", 400, "bad header line"),
        (b"GET /x HTTP/1.1\r\n Host: a", 400, "bad header line"),
        (b"GET /x HTTP/1.1\r\nContent-Length: 5", 400, "a request body is not accepted"),
        (b"GET /x HTTP/1.1\r\nTransfer-Encoding: chunked", 400, "a request body is not accepted"),
        (b"POST /x HTTP/1.1", 405, "only GET and HEAD"),
        (b"GET ftp://x/y HTTP/1.1", 400, "bad request target"),
    ],
)
def test_refused_requests(head: bytes, status: int, text: str) -> None:
    answer = parse_head(head)
    assert isinstance(answer, tuple)
    assert answer[0] == status
    assert text in answer[2].decode()


def test_render_response() -> None:
    response: Response = (200, (("Content-Type", "text/plain"),), b"ok")
    assert render_response(response, close=False, head=False) == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
    )
    assert render_response((503, (), b"no"), close=True, head=True) == (
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
    )


async def slow(path: str) -> Response:
    await asyncio.sleep(0.1)
    return 200, (), f"slow {path}".encode()


def handler(path: str, query: str) -> Response | Awaitable[Response]:
    if path == "/slow":
        return slow(path)
    if path == "/boom":
        raise RuntimeError("boom")
    return 200, (), f"{path}?{query}".encode()


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, int]]:
    srv = ProbeServer(handler)
    address = await srv.start("127.0.0.1", 0)
    host, _, port = address.rpartition(":")
    try:
        yield host, int(port)
    finally:
        await srv.close()


async def exchange(address: tuple[str, int], data: bytes, *, until_close: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection(*address)
    writer.write(data)
    try:
        if until_close:
            return await asyncio.wait_for(reader.read(), 3)
        return await asyncio.wait_for(reader.read(65536), 3)
    finally:
        writer.close()


async def test_pipelined_requests_are_answered_in_order_including_async_ones(server: tuple[str, int]) -> None:
    data = b"GET /slow HTTP/1.1\r\n\r\nGET /a?b=1 HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\nConnection: close\r\n\r\n"
    out = await exchange(server, data)
    bodies = [part.split(b"\r\n\r\n", 1)[1] for part in out.split(b"HTTP/1.1 200 OK")[1:]]
    assert [b[: b.find(b"HTTP")] if b"HTTP" in b else b for b in bodies] == [b"slow /slow", b"/a?b=1", b"/c?"]
    assert out.count(b"Connection: close") == 1


async def test_keep_alive_then_close(server: tuple[str, int]) -> None:
    reader, writer = await asyncio.open_connection(*server)
    try:
        for i in range(3):
            writer.write(f"GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert await reader.readexactly(3) == f"/{i}?".encode()
    finally:
        writer.close()


async def test_head_has_no_body(server: tuple[str, int]) -> None:
    out = await exchange(server, b"HEAD /abc HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out == b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n"


async def test_errors_close_the_connection(server: tuple[str, int]) -> None:
    out = await exchange(server, b"GET /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /y HTTP/1.1\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Connection: close" in out
    assert b"/y" not in out
    out = await exchange(server, b"GET /x HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    out = await exchange(server, b"GET /x HTTP/1.1\r\nX: " + b"a" * 9000)  # no end in sight
    assert out.startswith(b"HTTP/1.1 431 ")
    out = await exchange(server, b"GET /boom HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")


async def test_deadlines(server: tuple[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_probeserver, "HEAD_TIMEOUT", 0.2)
    monkeypatch.setattr(_probeserver, "IDLE_TIMEOUT", 0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await exchange(server, b"GET /x HTTP/1.1\r\nHost:") == b""  # never finishes its head
    assert 0.15 < loop.time() - started < 2
    started = loop.time()
    out = await exchange(server, b"GET /x HTTP/1.1\r\n\r\n")  # answered, then idle
    assert out.startswith(b"HTTP/1.1 200 OK")
    assert 0.25 < loop.time() - started < 2
