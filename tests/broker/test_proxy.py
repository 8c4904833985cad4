"""The proxy in one process: a raw asyncio worker that answers chunked, and clients that speak
HTTP/1.0, pipeline, or send a body the broker must forward (RFC 9112 framing both ways)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from healthgauge.broker._config import parse_config
from healthgauge.broker._service import BrokerService


async def _worker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each request with its method, target and body length, in the chunked coding."""
    try:
        while head := await reader.readuntil(b"\r\n\r\n"):
            lines = head.decode().split("\r\n")
            fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            size = int(fields.get("content-length", "0"))
            body = await reader.readexactly(size) if size else b""
            text = f"{lines[0]} body={len(body)} conn={fields.get('connection', '-')} te={fields.get('te', '-')}"
            payload = text.encode()
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n")
            writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[int]:
    server = await asyncio.start_server(_worker, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = parse_config(f'listen = "127.0.0.1:0"\n[[workers]]\nname = "w"\nurl = "http://127.0.0.1:{port}"\n')
    service = BrokerService(config, loop=asyncio.get_running_loop())
    bound = await service.start()
    try:
        yield bound["proxy"][1]
    finally:
        await service.close()
        server.close()
        await server.wait_closed()


async def _exchange(port: int, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    try:
        async with asyncio.timeout(5):
            return await reader.read(-1)
    finally:
        writer.close()


async def test_an_http_10_client_gets_the_body_unchunked_and_the_connection_closed(proxy: int) -> None:
    answer = await _exchange(proxy, b"GET /a HTTP/1.0\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"transfer-encoding" not in head.lower()
    assert b"connection: close" in head.lower()
    assert body.startswith(b"GET /a HTTP/1.1 body=0")  # forwarded as HTTP/1.1


async def test_pipelined_requests_are_answered_in_order_and_hop_by_hop_fields_stay_behind(proxy: int) -> None:
    two = (
        b"POST /one HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTE: trailers\r\n\r\nhello"
        b"GET /two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    answer = await _exchange(proxy, two)
    first, second = answer.split(b"HTTP/1.1 200 OK")[1:]
    assert b"POST /one HTTP/1.1 body=5 conn=- te=-" in first  # TE is hop-by-hop: not forwarded
    assert b"transfer-encoding: chunked" in first.lower()
    assert b"GET /two HTTP/1.1 body=0 conn=-" in second  # the client's Connection: close is its own
    assert b"connection: close" in second.lower()


async def test_a_chunked_request_body_is_forwarded_with_its_length(proxy: int) -> None:
    request = b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    request += b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\n\r\n"
    answer = await _exchange(proxy, request)
    assert b"PUT /c HTTP/1.1 body=7" in answer


async def test_a_malformed_request_is_answered_400_and_closed(proxy: int) -> None:
    answer = await _exchange(
        proxy, b"GET /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    assert answer.startswith(b"HTTP/1.1 400 Bad Request")
    assert b"connection: close" in answer.lower()


class _Transport:
    """In memory: what the broker wrote, one entry per call (a call is a send on a real socket)."""

    def __init__(self) -> None:
        self.calls: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.calls.append(bytes(data))

    def writelines(self, data: list[bytes]) -> None:
        self.calls.append(b"".join(bytes(d) for d in data))

    def set_write_buffer_limits(self, high: int, low: int) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", b"abc"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", b"3\r\nabc\r\n0\r\n\r\n"),
    ],
)
async def test_an_answer_read_at_once_goes_to_the_client_in_one_write(answer: bytes, body: bytes) -> None:
    from healthgauge.broker._proxy import ClientConnection, WorkerConnection

    config = parse_config('listen = "127.0.0.1:0"\n[[workers]]\nname = "w"\nurl = "http://127.0.0.1:9"\n')
    service = BrokerService(config, loop=asyncio.get_running_loop())
    client, worker = ClientConnection(service), WorkerConnection(service, "w")
    to_client, to_worker = _Transport(), _Transport()
    client.connection_made(to_client)  # type: ignore[arg-type]
    worker.connection_made(to_worker)  # type: ignore[arg-type]
    service.idle.put(worker)
    client.data_received(b"GET /img/a HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(to_worker.calls) == 1, "the request went out in one write"
    worker.data_received(answer)
    assert len(to_client.calls) == 1, to_client.calls  # head and body: one send, one segment
    assert to_client.calls[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert to_client.calls[0].endswith(b"\r\n\r\n" + body)
    assert client.exchange is None, "the exchange ended"
