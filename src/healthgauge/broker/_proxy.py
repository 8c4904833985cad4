"""The broker's connections: asyncio protocols that move bytes between a client and a worker.

One :class:`ClientConnection` per client connection (HTTP/1.1 keep-alive, one request at a time;
pipelined requests wait their turn), one :class:`WorkerConnection` per connection to a worker,
pooled while idle. An :class:`Exchange` is one request on its way: its head and body, the job the
scheduling core knows it by, and where it is (reading its body, offered, queued, answered).

Protocols and callbacks rather than coroutines and streams: a request costs a few callbacks, not a
task, which is what keeps the broker's CPU per request within its budget (README, "Broker").
Bodies are never kept whole: a request body up to ``retry_body`` bytes is kept so that it can be
offered to another worker after a refusal; anything larger is streamed to the first worker with a
single offer. Response bodies stream through; when the client reads slower than the worker writes,
the worker connection stops reading (``pause_reading``) until the client's buffer drains.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Protocol, cast

from healthgauge.broker._broker import Job
from healthgauge.broker._wire import (
    CHUNKED,
    CLOSE,
    LAST_CHUNK,
    LENGTH,
    NONE,
    BodyReader,
    Head,
    WireError,
    chunk,
    find_head_end,
    parse_request_head,
    parse_response_head,
    render_head,
)

if TYPE_CHECKING:
    from healthgauge.broker._config import BrokerConfig

__all__ = ["ClientConnection", "Exchange", "ProxyService", "WorkerConnection"]

log = logging.getLogger("healthgauge.broker")

_REASONS = {
    200: b"OK",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    431: b"Request Header Fields Too Large",
    501: b"Not Implemented",
    502: b"Bad Gateway",
    503: b"Service Unavailable",
    504: b"Gateway Timeout",
    505: b"HTTP Version Not Supported",
}

# The reader of every request without a body: done from the start, never changed.
NO_BODY = BodyReader(NONE)
# Idempotent methods (RFC 9110 §9.2.2): a request cut off by a failed worker before any answer
# may be sent again to another one.
IDEMPOTENT = frozenset((b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"))
# Write buffer marks (bytes) for both directions: above HIGH the reading side pauses.
HIGH_WATER = 256 * 1024
LOW_WATER = 64 * 1024


def simple_response(status: int, body: bytes, extra: list[tuple[bytes, bytes]], *, close: bool) -> bytes:
    """A small answer of the broker's own (errors, rejections, health): head and body in one."""
    lines = [b"HTTP/1.1 %d %s" % (status, _REASONS.get(status, b"OK")), b"content-type: text/plain; charset=utf-8"]
    lines += [k + b": " + v for k, v in extra]
    lines.append(b"content-length: %d" % len(body))
    if close:
        lines.append(b"connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class Exchange:
    """One request through the broker."""

    __slots__ = (
        "body",
        "body_size",
        "client",
        "cost",
        "deadline",
        "done",
        "head",
        "home",
        "job",
        "key",
        "offers",
        "queued",
        "reader",
        "responded",
        "sent_at",
        "start",
        "streaming",
        "timer",
        "tried",
        "worker",
        "worker_conn",
    )

    def __init__(self, client: ClientConnection, head: Head, start: float) -> None:
        self.client = client
        self.head = head
        self.start = start
        self.reader = NO_BODY if head.framing == NONE else BodyReader(head.framing, head.length)
        self.body: list[bytes] = []  # the request body kept so far (for another offer)
        self.body_size = 0
        self.streaming = False  # the body is larger than retry_body: sent as it comes, one offer
        self.job: Job | None = None
        self.deadline = 0.0
        self.key: str | None = None
        self.home: object = None
        self.cost: float | None = None
        self.offers = 0  # offers made so far
        self.tried: list[object] = []  # workers asked in the current round
        self.queued = False  # all its offers were refused once: it waits to be pulled
        self.worker: object = None  # the worker it is with
        self.worker_conn: WorkerConnection | None = None
        self.responded = False  # the response head went to the client
        self.sent_at = 0.0  # when it went to its current worker
        self.done = False
        self.timer: asyncio.TimerHandle | None = None


class ProxyService(Protocol):
    """What the connections call on the service that drives them (``_service.BrokerService``);
    named here so that this module does not import the one that imports it."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def config(self) -> BrokerConfig: ...
    @property
    def clients(self) -> set[ClientConnection]: ...
    def received(self, ex: Exchange) -> None: ...
    def body_complete(self, ex: Exchange) -> None: ...
    def stream_request(self, ex: Exchange, pieces: list[bytes | memoryview]) -> None: ...
    def client_gone(self, ex: Exchange) -> None: ...
    def worker_failed(self, ex: Exchange, conn: WorkerConnection, kind: str, detail: str = "") -> None: ...
    def pool_discard(self, conn: WorkerConnection) -> None: ...
    def response_head(self, ex: Exchange, conn: WorkerConnection, head: Head) -> bytes | None: ...
    def response_done(self, ex: Exchange, conn: WorkerConnection, *, keep: bool) -> None: ...


class ClientConnection(asyncio.Protocol):
    """A client's connection: reads requests one at a time and hands them to the service."""

    __slots__ = ("_buf", "_paused", "closed", "exchange", "service", "transport", "upstream_paused")

    def __init__(self, service: ProxyService) -> None:
        self.service = service
        self.transport: asyncio.Transport | None = None
        self._buf = b""
        self.exchange: Exchange | None = None
        self._paused = False  # we stopped reading the client (a body waits for a worker)
        self.upstream_paused = False  # the worker's reading is paused for this client
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's are not asyncio.Transport subclasses
        self.transport.set_write_buffer_limits(HIGH_WATER, LOW_WATER)
        self.service.clients.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.service.clients.discard(self)
        ex = self.exchange
        if ex is not None and not ex.done:
            self.service.client_gone(ex)

    def data_received(self, data: bytes) -> None:
        ex = self.exchange
        if ex is not None and not ex.reader.done:
            self._body(ex, data)
            return
        self._buf = self._buf + data if self._buf else data
        if ex is None:
            self._next_request()
        elif len(self._buf) > 2 * HIGH_WATER:
            self._pause()  # a pipelining client: wait for the current answer

    def _next_request(self) -> None:
        buf = self._buf
        if not buf or self.closed:
            return
        try:
            end = find_head_end(buf)
            if end == -1:
                return
            head = parse_request_head(buf[: end - 4])
        except WireError as exc:
            self.fail(exc.status, str(exc))
            return
        self._buf = b""
        ex = Exchange(self, head, self.service.loop.time())
        self.exchange = ex
        self.service.received(ex)
        rest = buf[end:]
        if ex.reader.done:
            self._buf = rest
            if not ex.done:
                self.service.body_complete(ex)
        elif rest:
            self._body(ex, rest)

    def _body(self, ex: Exchange, data: bytes) -> None:
        try:
            pieces, used = ex.reader.feed(data)
        except WireError as exc:
            self.fail(400, str(exc))
            return
        if used < len(data):
            self._buf = data[used:]
        if ex.done:
            return
        if ex.streaming:
            self.service.stream_request(ex, pieces)
        else:
            for piece in pieces:
                ex.body.append(bytes(piece))
                ex.body_size += len(piece)
            if ex.body_size > self.service.config.retry_body and not ex.reader.done:
                ex.streaming = True
                self.service.body_complete(ex)  # too large to keep: offer it now, once
                return
        if ex.reader.done and not ex.streaming:
            self.service.body_complete(ex)

    def finished(self, ex: Exchange, *, keep: bool) -> None:
        """The answer to ``ex`` is sent: read the next request, or close."""
        if self.exchange is ex:
            self.exchange = None
        if self.upstream_paused:
            self.upstream_paused = False
        if not keep or self.closed:
            self.close()
            return
        self._resume()
        if self._buf:
            self._next_request()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(data)

    def writelines(self, data: list[bytes | memoryview]) -> None:
        if self.transport is not None and not self.closed:
            self.transport.writelines(data)

    def fail(self, status: int, message: str) -> None:
        """A request we cannot read: answer ``status`` and close (the stream is out of step)."""
        log.info("client request refused: %s", message)
        self.write(simple_response(status, message.encode("utf-8", "replace") + b"\n", [], close=True))
        self.close()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    def pause_reading_body(self) -> None:
        self._pause()

    def resume_reading_body(self) -> None:
        self._resume()

    def _pause(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def _resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    # Flow control from the transport: the client reads slower than the worker answers.
    def pause_writing(self) -> None:
        ex = self.exchange
        if ex is not None and ex.worker_conn is not None:
            self.upstream_paused = True
            ex.worker_conn.pause()

    def resume_writing(self) -> None:
        ex = self.exchange
        if self.upstream_paused and ex is not None and ex.worker_conn is not None:
            self.upstream_paused = False
            ex.worker_conn.resume()


class WorkerConnection(asyncio.Protocol):
    """A connection to one worker, carrying one exchange at a time (HTTP/1.1 keep-alive)."""

    __slots__ = (
        "_buf",
        "_chunked_out",
        "_paused",
        "closed",
        "exchange",
        "head",
        "reader",
        "ready",
        "service",
        "transport",
        "worker",
    )

    def __init__(self, service: ProxyService, worker: object) -> None:
        self.service = service
        self.worker = worker
        self.transport: asyncio.Transport | None = None
        self.exchange: Exchange | None = None
        self.head: Head | None = None
        self.reader: BodyReader | None = None
        self._buf = b""
        self._chunked_out = False  # the response goes to the client in the chunked coding
        self._paused = False
        self.closed = False
        self.ready: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast("asyncio.Transport", transport)  # uvloop's are not asyncio.Transport subclasses
        self.transport.set_write_buffer_limits(HIGH_WATER, LOW_WATER)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        ex = self.exchange
        if ex is not None:
            reader = self.reader
            if reader is not None and reader.framing == CLOSE and self.head is not None:
                reader.feed_eof()
                self._complete(keep=False)
                return
            self.exchange = None
            self.service.worker_failed(ex, self, "reset" if exc is not None else "closed")
        else:
            self.service.pool_discard(self)

    def send(self, ex: Exchange, data: list[bytes | memoryview]) -> None:
        self.exchange = ex
        self.head = None
        self.reader = None
        self._buf = b""
        assert self.transport is not None
        self.transport.writelines(data)

    def write_body(self, data: list[bytes | memoryview]) -> None:
        if self.transport is not None and not self.closed:
            self.transport.writelines(data)

    def data_received(self, data: bytes) -> None:
        ex = self.exchange
        if ex is None:
            self.close()  # bytes nobody asked for: the connection is out of step
            return
        # One write to the client per read from the worker: the head, the body pieces that came
        # with it and the end of the body together (a small answer is one segment, not two).
        out: list[bytes | memoryview] = []
        if self.head is None:
            self._buf = self._buf + data if self._buf else data
            try:
                end = find_head_end(self._buf)
                if end == -1:
                    return
                head = parse_response_head(self._buf[: end - 4], method=ex.head.method)
            except WireError as exc:
                self.exchange = None
                self.service.worker_failed(ex, self, "protocol", str(exc))
                return
            data, self._buf = self._buf[end:], b""
            if head.status < 200:  # 100 Continue and other interim answers: the real one follows
                if data:
                    self.data_received(data)
                return
            self.head = head
            self.reader = BodyReader(head.framing, head.length)
            # None for a refusal: its body is read below and dropped, then the next offer.
            opening = self.service.response_head(ex, self, head)
            self._chunked_out = opening is not None and (
                head.framing in (CHUNKED, CLOSE) and ex.head.version == b"HTTP/1.1"
            )
            if opening is not None:
                out.append(opening)
            if not data and not self.reader.done:
                ex.client.writelines(out)
                return
        assert self.reader is not None
        assert self.head is not None
        try:
            pieces, used = self.reader.feed(data)
        except WireError as exc:
            self.exchange = None
            self.service.worker_failed(ex, self, "protocol", str(exc))
            return
        if used < len(data):
            self.head.keep_alive = False  # bytes past the answer: out of step
        if ex.responded and pieces:
            if self._chunked_out:
                for piece in pieces:
                    out += chunk(piece)
            else:
                out += pieces
        done = self.reader.done
        if done and ex.responded and self._chunked_out:
            out.append(LAST_CHUNK)
        if out:
            ex.client.writelines(out)
        if done:
            self._complete(keep=self.head.keep_alive, last_chunk=False)

    def _complete(self, *, keep: bool, last_chunk: bool = True) -> None:
        ex = self.exchange
        self.exchange = None
        self._resume_reading()
        if ex is None:
            return
        if last_chunk and ex.responded and self._chunked_out:
            ex.client.write(LAST_CHUNK)
        self.service.response_done(ex, self, keep=keep and not self.closed)

    def pause(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        self._resume_reading()

    def _resume_reading(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    # Flow control towards the worker (a streamed request body).
    def pause_writing(self) -> None:
        ex = self.exchange
        if ex is not None:
            ex.client.pause_reading_body()

    def resume_writing(self) -> None:
        ex = self.exchange
        if ex is not None:
            ex.client.resume_reading_body()

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        self.exchange = None
        if self.transport is not None:
            self.transport.abort()


def request_bytes(
    ex: Exchange, extra: list[tuple[bytes, bytes]], drop: frozenset[bytes]
) -> tuple[list[bytes | memoryview], bool]:
    """The request for a worker: head with the broker's fields, and the body kept so far.
    Returns the bytes and whether the body is sent chunked (streamed, length unknown)."""
    head = ex.head
    first = head.method + b" " + head.target + b" HTTP/1.1"
    chunked = False
    if ex.streaming:
        if head.framing == LENGTH:
            data = render_head(first, head, extra, LENGTH, head.length, drop)
        else:
            data = render_head(first, head, extra, CHUNKED, 0, drop)
            chunked = True
    elif ex.body_size or head.framing != NONE:
        data = render_head(first, head, extra, LENGTH, ex.body_size, drop)
    else:
        data = render_head(first, head, extra, NONE, 0, drop)
    out: list[bytes | memoryview] = [data]
    for piece in ex.body:
        out += chunk(piece) if chunked else [piece]
    return out, chunked
